package wbxml

import (
	"fmt"
	"strconv"
	"strings"
)

// Code page numbers of [MS-ASWBXML] section 2.1.2.1. Each page is one XML
// namespace.
const (
	PageAirSync           uint8 = 0
	PageContacts          uint8 = 1
	PageEmail             uint8 = 2
	PageAirNotify         uint8 = 3
	PageCalendar          uint8 = 4
	PageMove              uint8 = 5
	PageGetItemEstimate   uint8 = 6
	PageFolderHierarchy   uint8 = 7
	PageMeetingResponse   uint8 = 8
	PageTasks             uint8 = 9
	PageResolveRecipients uint8 = 10
	PageValidateCert      uint8 = 11
	PageContacts2         uint8 = 12
	PagePing              uint8 = 13
	PageProvision         uint8 = 14
	PageSearch            uint8 = 15
	PageGAL               uint8 = 16
	PageAirSyncBase       uint8 = 17
	PageSettings          uint8 = 18
	PageDocumentLibrary   uint8 = 19
	PageItemOperations    uint8 = 20
	PageComposeMail       uint8 = 21
	PageEmail2            uint8 = 22
	PageNotes             uint8 = 23
	PageRightsManagement  uint8 = 24
	PageFind              uint8 = 25
)

// Token range of a tag on a code page. Values 0x00..0x04 are the global
// tokens of WBXML 1.3 section 7.1, and bits 0x40 and 0x80 of a tag byte carry
// the content and attribute flags, so a tag token is 0x05..0x3F.
const (
	MinToken uint8 = 0x05
	MaxToken uint8 = 0x3F
)

// Tag identifies an element: a token on a code page.
type Tag struct {
	Page  uint8
	Token uint8
}

// TagInfo describes one entry of the code page tables.
type TagInfo struct {
	Tag
	// Name is the qualified name, "Namespace:Local".
	Name string
	// Legacy is set for tokens that the current revision of [MS-ASWBXML] no
	// longer lists but earlier revisions (protocol 2.5 to 12.1) defined.
	// Old devices still send them, so they keep their names.
	Legacy bool
}

type tagDef struct {
	tok    uint8
	name   string
	legacy bool
}

type pageDef struct {
	num  uint8
	name string
	tags []tagDef
}

// pageTable transcribes the tag tables of [MS-ASWBXML] section 2.1.2.1.1
// (code page 0) to 2.1.2.1.26 (code page 25). Entries marked legacy come
// from revisions before 8.0 of the specification, which covered protocol
// versions 2.5, 12.0 and 12.1; later revisions dropped them.
var pageTable = []pageDef{
	{PageAirSync, "AirSync", []tagDef{
		{0x05, "Sync", false}, {0x06, "Responses", false}, {0x07, "Add", false},
		{0x08, "Change", false}, {0x09, "Delete", false}, {0x0A, "Fetch", false},
		{0x0B, "SyncKey", false}, {0x0C, "ClientId", false}, {0x0D, "ServerId", false},
		{0x0E, "Status", false}, {0x0F, "Collection", false}, {0x10, "Class", false},
		{0x12, "CollectionId", false}, {0x13, "GetChanges", false},
		{0x14, "MoreAvailable", false}, {0x15, "WindowSize", false},
		{0x16, "Commands", false}, {0x17, "Options", false}, {0x18, "FilterType", false},
		{0x19, "Truncation", false}, {0x1A, "RTFTruncation", true},
		{0x1B, "Conflict", false}, {0x1C, "Collections", false},
		{0x1D, "ApplicationData", false}, {0x1E, "DeletesAsMoves", false},
		{0x1F, "NotifyGUID", true}, {0x20, "Supported", false},
		{0x21, "SoftDelete", false}, {0x22, "MIMESupport", false},
		{0x23, "MIMETruncation", false}, {0x24, "Wait", false}, {0x25, "Limit", false},
		{0x26, "Partial", false}, {0x27, "ConversationMode", false},
		{0x28, "MaxItems", false}, {0x29, "HeartbeatInterval", false},
	}},
	{PageContacts, "Contacts", []tagDef{
		{0x05, "Anniversary", false}, {0x06, "AssistantName", false},
		{0x07, "AssistantPhoneNumber", false}, {0x08, "Birthday", false},
		{0x09, "Body", false}, {0x0A, "BodySize", false}, {0x0B, "BodyTruncated", false},
		{0x0C, "Business2PhoneNumber", false}, {0x0D, "BusinessAddressCity", false},
		{0x0E, "BusinessAddressCountry", false}, {0x0F, "BusinessAddressPostalCode", false},
		{0x10, "BusinessAddressState", false}, {0x11, "BusinessAddressStreet", false},
		{0x12, "BusinessFaxNumber", false}, {0x13, "BusinessPhoneNumber", false},
		{0x14, "CarPhoneNumber", false}, {0x15, "Categories", false},
		{0x16, "Category", false}, {0x17, "Children", false}, {0x18, "Child", false},
		{0x19, "CompanyName", false}, {0x1A, "Department", false},
		{0x1B, "Email1Address", false}, {0x1C, "Email2Address", false},
		{0x1D, "Email3Address", false}, {0x1E, "FileAs", false},
		{0x1F, "FirstName", false}, {0x20, "Home2PhoneNumber", false},
		{0x21, "HomeAddressCity", false}, {0x22, "HomeAddressCountry", false},
		{0x23, "HomeAddressPostalCode", false}, {0x24, "HomeAddressState", false},
		{0x25, "HomeAddressStreet", false}, {0x26, "HomeFaxNumber", false},
		{0x27, "HomePhoneNumber", false}, {0x28, "JobTitle", false},
		{0x29, "LastName", false}, {0x2A, "MiddleName", false},
		{0x2B, "MobilePhoneNumber", false}, {0x2C, "OfficeLocation", false},
		{0x2D, "OtherAddressCity", false}, {0x2E, "OtherAddressCountry", false},
		{0x2F, "OtherAddressPostalCode", false}, {0x30, "OtherAddressState", false},
		{0x31, "OtherAddressStreet", false}, {0x32, "PagerNumber", false},
		{0x33, "RadioPhoneNumber", false}, {0x34, "Spouse", false},
		{0x35, "Suffix", false}, {0x36, "Title", false}, {0x37, "WebPage", false},
		{0x38, "YomiCompanyName", false}, {0x39, "YomiFirstName", false},
		{0x3A, "YomiLastName", false}, {0x3B, "CompressedRTF", true},
		{0x3C, "Picture", false}, {0x3D, "Alias", false}, {0x3E, "WeightedRank", false},
	}},
	{PageEmail, "Email", []tagDef{
		{0x05, "Attachment", false}, {0x06, "Attachments", false},
		{0x07, "AttName", false}, {0x08, "AttSize", false}, {0x09, "Att0Id", false},
		{0x0A, "AttMethod", false}, {0x0B, "AttRemoved", true}, {0x0C, "Body", false},
		{0x0D, "BodySize", false}, {0x0E, "BodyTruncated", false},
		{0x0F, "DateReceived", false}, {0x10, "DisplayName", false},
		{0x11, "DisplayTo", false}, {0x12, "Importance", false},
		{0x13, "MessageClass", false}, {0x14, "Subject", false}, {0x15, "Read", false},
		{0x16, "To", false}, {0x17, "Cc", false}, {0x18, "From", false},
		{0x19, "ReplyTo", false}, {0x1A, "AllDayEvent", false},
		{0x1B, "Categories", false}, {0x1C, "Category", false}, {0x1D, "DtStamp", false},
		{0x1E, "EndTime", false}, {0x1F, "InstanceType", false},
		{0x20, "BusyStatus", false}, {0x21, "Location", false},
		{0x22, "MeetingRequest", false}, {0x23, "Organizer", false},
		{0x24, "RecurrenceId", false}, {0x25, "Reminder", false},
		{0x26, "ResponseRequested", false}, {0x27, "Recurrences", false},
		{0x28, "Recurrence", false}, {0x29, "Type", false}, {0x2A, "Until", false},
		{0x2B, "Occurrences", false}, {0x2C, "Interval", false},
		{0x2D, "DayOfWeek", false}, {0x2E, "DayOfMonth", false},
		{0x2F, "WeekOfMonth", false}, {0x30, "MonthOfYear", false},
		{0x31, "StartTime", false}, {0x32, "Sensitivity", false},
		{0x33, "TimeZone", false}, {0x34, "GlobalObjId", false},
		{0x35, "ThreadTopic", false}, {0x36, "MIMEData", false},
		{0x37, "MIMETruncated", false}, {0x38, "MIMESize", false},
		{0x39, "InternetCPID", false}, {0x3A, "Flag", false}, {0x3B, "Status", false},
		{0x3C, "ContentClass", false}, {0x3D, "FlagType", false},
		{0x3E, "CompleteTime", false}, {0x3F, "DisallowNewTimeProposal", false},
	}},
	// Code page 3 is no longer used (section 2.1.2.1.4); its tokens were
	// defined for protocol 2.5 to 12.1 push notifications.
	{PageAirNotify, "AirNotify", []tagDef{
		{0x05, "Notify", true}, {0x06, "Notification", true}, {0x07, "Version", true},
		{0x08, "LifeTime", true}, {0x09, "DeviceInfo", true}, {0x0A, "Enable", true},
		{0x0B, "Folder", true}, {0x0C, "ServerId", true}, {0x0D, "DeviceAddress", true},
		{0x0E, "ValidCarrierProfiles", true}, {0x0F, "CarrierProfile", true},
		{0x10, "Status", true}, {0x11, "Responses", true}, {0x12, "Devices", true},
		{0x13, "Device", true}, {0x14, "Id", true}, {0x15, "Expiry", true},
		{0x16, "NotifyGUID", true}, {0x17, "DeviceFriendlyName", true},
	}},
	{PageCalendar, "Calendar", []tagDef{
		{0x05, "Timezone", false}, {0x06, "AllDayEvent", false},
		{0x07, "Attendees", false}, {0x08, "Attendee", false}, {0x09, "Email", false},
		{0x0A, "Name", false}, {0x0B, "Body", false}, {0x0C, "BodyTruncated", false},
		{0x0D, "BusyStatus", false}, {0x0E, "Categories", false},
		{0x0F, "Category", false}, {0x10, "CompressedRTF", true},
		{0x11, "DtStamp", false}, {0x12, "EndTime", false}, {0x13, "Exception", false},
		{0x14, "Exceptions", false}, {0x15, "Deleted", false},
		{0x16, "ExceptionStartTime", false}, {0x17, "Location", false},
		{0x18, "MeetingStatus", false}, {0x19, "OrganizerEmail", false},
		{0x1A, "OrganizerName", false}, {0x1B, "Recurrence", false},
		{0x1C, "Type", false}, {0x1D, "Until", false}, {0x1E, "Occurrences", false},
		{0x1F, "Interval", false}, {0x20, "DayOfWeek", false},
		{0x21, "DayOfMonth", false}, {0x22, "WeekOfMonth", false},
		{0x23, "MonthOfYear", false}, {0x24, "Reminder", false},
		{0x25, "Sensitivity", false}, {0x26, "Subject", false},
		{0x27, "StartTime", false}, {0x28, "UID", false},
		{0x29, "AttendeeStatus", false}, {0x2A, "AttendeeType", false},
		{0x33, "DisallowNewTimeProposal", false}, {0x34, "ResponseRequested", false},
		{0x35, "AppointmentReplyTime", false}, {0x36, "ResponseType", false},
		{0x37, "CalendarType", false}, {0x38, "IsLeapMonth", false},
		{0x39, "FirstDayOfWeek", false}, {0x3A, "OnlineMeetingConfLink", false},
		{0x3B, "OnlineMeetingExternalLink", false}, {0x3C, "ClientUid", false},
	}},
	{PageMove, "Move", []tagDef{
		{0x05, "MoveItems", false}, {0x06, "Move", false}, {0x07, "SrcMsgId", false},
		{0x08, "SrcFldId", false}, {0x09, "DstFldId", false}, {0x0A, "Response", false},
		{0x0B, "Status", false}, {0x0C, "DstMsgId", false},
	}},
	{PageGetItemEstimate, "GetItemEstimate", []tagDef{
		{0x05, "GetItemEstimate", false}, {0x06, "Version", true},
		{0x07, "Collections", false}, {0x08, "Collection", false},
		{0x09, "Class", false}, {0x0A, "CollectionId", false},
		{0x0B, "DateTime", true}, {0x0C, "Estimate", false},
		{0x0D, "Response", false}, {0x0E, "Status", false},
	}},
	{PageFolderHierarchy, "FolderHierarchy", []tagDef{
		{0x05, "Folders", false}, {0x06, "Folder", false},
		{0x07, "DisplayName", false}, {0x08, "ServerId", false},
		{0x09, "ParentId", false}, {0x0A, "Type", false}, {0x0B, "Response", true},
		{0x0C, "Status", false}, {0x0D, "ContentClass", true},
		{0x0E, "Changes", false}, {0x0F, "Add", false}, {0x10, "Delete", false},
		{0x11, "Update", false}, {0x12, "SyncKey", false},
		{0x13, "FolderCreate", false}, {0x14, "FolderDelete", false},
		{0x15, "FolderUpdate", false}, {0x16, "FolderSync", false},
		{0x17, "Count", false}, {0x18, "Version", true},
	}},
	{PageMeetingResponse, "MeetingResponse", []tagDef{
		{0x05, "CalendarId", false}, {0x06, "CollectionId", false},
		{0x07, "MeetingResponse", false}, {0x08, "RequestId", false},
		{0x09, "Request", false}, {0x0A, "Result", false}, {0x0B, "Status", false},
		{0x0C, "UserResponse", false}, {0x0D, "Version", true},
		{0x0E, "InstanceId", false}, {0x10, "ProposedStartTime", false},
		{0x11, "ProposedEndTime", false}, {0x12, "SendResponse", false},
	}},
	{PageTasks, "Tasks", []tagDef{
		{0x05, "Body", false}, {0x06, "BodySize", false}, {0x07, "BodyTruncated", false},
		{0x08, "Categories", false}, {0x09, "Category", false},
		{0x0A, "Complete", false}, {0x0B, "DateCompleted", false},
		{0x0C, "DueDate", false}, {0x0D, "UtcDueDate", false},
		{0x0E, "Importance", false}, {0x0F, "Recurrence", false}, {0x10, "Type", false},
		{0x11, "Start", false}, {0x12, "Until", false}, {0x13, "Occurrences", false},
		{0x14, "Interval", false}, {0x15, "DayOfMonth", false},
		{0x16, "DayOfWeek", false}, {0x17, "WeekOfMonth", false},
		{0x18, "MonthOfYear", false}, {0x19, "Regenerate", false},
		{0x1A, "DeadOccur", false}, {0x1B, "ReminderSet", false},
		{0x1C, "ReminderTime", false}, {0x1D, "Sensitivity", false},
		{0x1E, "StartDate", false}, {0x1F, "UtcStartDate", false},
		{0x20, "Subject", false}, {0x21, "CompressedRTF", true},
		{0x22, "OrdinalDate", false}, {0x23, "SubOrdinalDate", false},
		{0x24, "CalendarType", false}, {0x25, "IsLeapMonth", false},
		{0x26, "FirstDayOfWeek", false},
	}},
	{PageResolveRecipients, "ResolveRecipients", []tagDef{
		{0x05, "ResolveRecipients", false}, {0x06, "Response", false},
		{0x07, "Status", false}, {0x08, "Type", false}, {0x09, "Recipient", false},
		{0x0A, "DisplayName", false}, {0x0B, "EmailAddress", false},
		{0x0C, "Certificates", false}, {0x0D, "Certificate", false},
		{0x0E, "MiniCertificate", false}, {0x0F, "Options", false}, {0x10, "To", false},
		{0x11, "CertificateRetrieval", false}, {0x12, "RecipientCount", false},
		{0x13, "MaxCertificates", false}, {0x14, "MaxAmbiguousRecipients", false},
		{0x15, "CertificateCount", false}, {0x16, "Availability", false},
		{0x17, "StartTime", false}, {0x18, "EndTime", false},
		{0x19, "MergedFreeBusy", false}, {0x1A, "Picture", false},
		{0x1B, "MaxSize", false}, {0x1C, "Data", false}, {0x1D, "MaxPictures", false},
	}},
	{PageValidateCert, "ValidateCert", []tagDef{
		{0x05, "ValidateCert", false}, {0x06, "Certificates", false},
		{0x07, "Certificate", false}, {0x08, "CertificateChain", false},
		{0x09, "CheckCRL", false}, {0x0A, "Status", false},
	}},
	{PageContacts2, "Contacts2", []tagDef{
		{0x05, "CustomerId", false}, {0x06, "GovernmentId", false},
		{0x07, "IMAddress", false}, {0x08, "IMAddress2", false},
		{0x09, "IMAddress3", false}, {0x0A, "ManagerName", false},
		{0x0B, "CompanyMainPhone", false}, {0x0C, "AccountName", false},
		{0x0D, "NickName", false}, {0x0E, "MMS", false},
	}},
	{PagePing, "Ping", []tagDef{
		{0x05, "Ping", false}, {0x06, "AutdState", true}, {0x07, "Status", false},
		{0x08, "HeartbeatInterval", false}, {0x09, "Folders", false},
		{0x0A, "Folder", false}, {0x0B, "Id", false}, {0x0C, "Class", false},
		{0x0D, "MaxFolders", false},
	}},
	{PageProvision, "Provision", []tagDef{
		{0x05, "Provision", false}, {0x06, "Policies", false}, {0x07, "Policy", false},
		{0x08, "PolicyType", false}, {0x09, "PolicyKey", false}, {0x0A, "Data", false},
		{0x0B, "Status", false}, {0x0C, "RemoteWipe", false},
		{0x0D, "EASProvisionDoc", false}, {0x0E, "DevicePasswordEnabled", false},
		{0x0F, "AlphanumericDevicePasswordRequired", false},
		{0x10, "RequireStorageCardEncryption", false},
		{0x11, "PasswordRecoveryEnabled", false}, {0x12, "DocumentBrowseEnabled", true},
		{0x13, "AttachmentsEnabled", false}, {0x14, "MinDevicePasswordLength", false},
		{0x15, "MaxInactivityTimeDeviceLock", false},
		{0x16, "MaxDevicePasswordFailedAttempts", false},
		{0x17, "MaxAttachmentSize", false}, {0x18, "AllowSimpleDevicePassword", false},
		{0x19, "DevicePasswordExpiration", false}, {0x1A, "DevicePasswordHistory", false},
		{0x1B, "AllowStorageCard", false}, {0x1C, "AllowCamera", false},
		{0x1D, "RequireDeviceEncryption", false},
		{0x1E, "AllowUnsignedApplications", false},
		{0x1F, "AllowUnsignedInstallationPackages", false},
		{0x20, "MinDevicePasswordComplexCharacters", false},
		{0x21, "AllowWiFi", false}, {0x22, "AllowTextMessaging", false},
		{0x23, "AllowPOPIMAPEmail", false}, {0x24, "AllowBluetooth", false},
		{0x25, "AllowIrDA", false}, {0x26, "RequireManualSyncWhenRoaming", false},
		{0x27, "AllowDesktopSync", false}, {0x28, "MaxCalendarAgeFilter", false},
		{0x29, "AllowHTMLEmail", false}, {0x2A, "MaxEmailAgeFilter", false},
		{0x2B, "MaxEmailBodyTruncationSize", false},
		{0x2C, "MaxEmailHTMLBodyTruncationSize", false},
		{0x2D, "RequireSignedSMIMEMessages", false},
		{0x2E, "RequireEncryptedSMIMEMessages", false},
		{0x2F, "RequireSignedSMIMEAlgorithm", false},
		{0x30, "RequireEncryptionSMIMEAlgorithm", false},
		{0x31, "AllowSMIMEEncryptionAlgorithmNegotiation", false},
		{0x32, "AllowSMIMESoftCerts", false}, {0x33, "AllowBrowser", false},
		{0x34, "AllowConsumerEmail", false}, {0x35, "AllowRemoteDesktop", false},
		{0x36, "AllowInternetSharing", false},
		{0x37, "UnapprovedInROMApplicationList", false},
		{0x38, "ApplicationName", false}, {0x39, "ApprovedApplicationList", false},
		{0x3A, "Hash", false}, {0x3B, "AccountOnlyRemoteWipe", false},
	}},
	{PageSearch, "Search", []tagDef{
		{0x05, "Search", false}, {0x07, "Store", false}, {0x08, "Name", false},
		{0x09, "Query", false}, {0x0A, "Options", false}, {0x0B, "Range", false},
		{0x0C, "Status", false}, {0x0D, "Response", false}, {0x0E, "Result", false},
		{0x0F, "Properties", false}, {0x10, "Total", false}, {0x11, "EqualTo", false},
		{0x12, "Value", false}, {0x13, "And", false}, {0x14, "Or", false},
		{0x15, "FreeText", false}, {0x17, "DeepTraversal", false},
		{0x18, "LongId", false}, {0x19, "RebuildResults", false},
		{0x1A, "LessThan", false}, {0x1B, "GreaterThan", false},
		{0x1C, "Schema", true}, {0x1E, "UserName", false}, {0x1F, "Password", false},
		{0x20, "ConversationId", false}, {0x21, "Picture", false},
		{0x22, "MaxSize", false}, {0x23, "MaxPictures", false},
	}},
	{PageGAL, "GAL", []tagDef{
		{0x05, "DisplayName", false}, {0x06, "Phone", false}, {0x07, "Office", false},
		{0x08, "Title", false}, {0x09, "Company", false}, {0x0A, "Alias", false},
		{0x0B, "FirstName", false}, {0x0C, "LastName", false},
		{0x0D, "HomePhone", false}, {0x0E, "MobilePhone", false},
		{0x0F, "EmailAddress", false}, {0x10, "Picture", false},
		{0x11, "Status", false}, {0x12, "Data", false},
	}},
	// Tokens 0x1C..0x2D were added for protocol 16.0 (calendar locations,
	// attachment Add/Delete on drafts and meeting instances).
	{PageAirSyncBase, "AirSyncBase", []tagDef{
		{0x05, "BodyPreference", false}, {0x06, "Type", false},
		{0x07, "TruncationSize", false}, {0x08, "AllOrNone", false},
		{0x0A, "Body", false}, {0x0B, "Data", false},
		{0x0C, "EstimatedDataSize", false}, {0x0D, "Truncated", false},
		{0x0E, "Attachments", false}, {0x0F, "Attachment", false},
		{0x10, "DisplayName", false}, {0x11, "FileReference", false},
		{0x12, "Method", false}, {0x13, "ContentId", false},
		{0x14, "ContentLocation", false}, {0x15, "IsInline", false},
		{0x16, "NativeBodyType", false}, {0x17, "ContentType", false},
		{0x18, "Preview", false}, {0x19, "BodyPartPreference", false},
		{0x1A, "BodyPart", false}, {0x1B, "Status", false}, {0x1C, "Add", false},
		{0x1D, "Delete", false}, {0x1E, "ClientId", false}, {0x1F, "Content", false},
		{0x20, "Location", false}, {0x21, "Annotation", false},
		{0x22, "Street", false}, {0x23, "City", false}, {0x24, "State", false},
		{0x25, "Country", false}, {0x26, "PostalCode", false},
		{0x27, "Latitude", false}, {0x28, "Longitude", false},
		{0x29, "Accuracy", false}, {0x2A, "Altitude", false},
		{0x2B, "AltitudeAccuracy", false}, {0x2C, "LocationUri", false},
		{0x2D, "InstanceId", false},
	}},
	{PageSettings, "Settings", []tagDef{
		{0x05, "Settings", false}, {0x06, "Status", false}, {0x07, "Get", false},
		{0x08, "Set", false}, {0x09, "Oof", false}, {0x0A, "OofState", false},
		{0x0B, "StartTime", false}, {0x0C, "EndTime", false},
		{0x0D, "OofMessage", false}, {0x0E, "AppliesToInternal", false},
		{0x0F, "AppliesToExternalKnown", false},
		{0x10, "AppliesToExternalUnknown", false}, {0x11, "Enabled", false},
		{0x12, "ReplyMessage", false}, {0x13, "BodyType", false},
		{0x14, "DevicePassword", false}, {0x15, "Password", false},
		{0x16, "DeviceInformation", false}, {0x17, "Model", false},
		{0x18, "IMEI", false}, {0x19, "FriendlyName", false}, {0x1A, "OS", false},
		{0x1B, "OSLanguage", false}, {0x1C, "PhoneNumber", false},
		{0x1D, "UserInformation", false}, {0x1E, "EmailAddresses", false},
		{0x1F, "SMTPAddress", false}, {0x20, "UserAgent", false},
		{0x21, "EnableOutboundSMS", false}, {0x22, "MobileOperator", false},
		{0x23, "PrimarySmtpAddress", false}, {0x24, "Accounts", false},
		{0x25, "Account", false}, {0x26, "AccountId", false},
		{0x27, "AccountName", false}, {0x28, "UserDisplayName", false},
		{0x29, "SendDisabled", false}, {0x2B, "RightsManagementInformation", false},
	}},
	{PageDocumentLibrary, "DocumentLibrary", []tagDef{
		{0x05, "LinkId", false}, {0x06, "DisplayName", false},
		{0x07, "IsFolder", false}, {0x08, "CreationDate", false},
		{0x09, "LastModifiedDate", false}, {0x0A, "IsHidden", false},
		{0x0B, "ContentLength", false}, {0x0C, "ContentType", false},
	}},
	{PageItemOperations, "ItemOperations", []tagDef{
		{0x05, "ItemOperations", false}, {0x06, "Fetch", false}, {0x07, "Store", false},
		{0x08, "Options", false}, {0x09, "Range", false}, {0x0A, "Total", false},
		{0x0B, "Properties", false}, {0x0C, "Data", false}, {0x0D, "Status", false},
		{0x0E, "Response", false}, {0x0F, "Version", false}, {0x10, "Schema", false},
		{0x11, "Part", false}, {0x12, "EmptyFolderContents", false},
		{0x13, "DeleteSubFolders", false}, {0x14, "UserName", false},
		{0x15, "Password", false}, {0x16, "Move", false}, {0x17, "DstFldId", false},
		{0x18, "ConversationId", false}, {0x19, "MoveAlways", false},
	}},
	// Forwardees (0x15..0x18) arrived with protocol 16.0; MS-ASCMD calls the
	// children of Forwardee plain Name and Email.
	{PageComposeMail, "ComposeMail", []tagDef{
		{0x05, "SendMail", false}, {0x06, "SmartForward", false},
		{0x07, "SmartReply", false}, {0x08, "SaveInSentItems", false},
		{0x09, "ReplaceMime", false}, {0x0B, "Source", false},
		{0x0C, "FolderId", false}, {0x0D, "ItemId", false}, {0x0E, "LongId", false},
		{0x0F, "InstanceId", false}, {0x10, "Mime", false}, {0x11, "ClientId", false},
		{0x12, "Status", false}, {0x13, "AccountId", false},
		{0x15, "Forwardees", false}, {0x16, "Forwardee", false},
		{0x17, "Name", false}, {0x18, "Email", false},
	}},
	{PageEmail2, "Email2", []tagDef{
		{0x05, "UmCallerID", false}, {0x06, "UmUserNotes", false},
		{0x07, "UmAttDuration", false}, {0x08, "UmAttOrder", false},
		{0x09, "ConversationId", false}, {0x0A, "ConversationIndex", false},
		{0x0B, "LastVerbExecuted", false}, {0x0C, "LastVerbExecutionTime", false},
		{0x0D, "ReceivedAsBcc", false}, {0x0E, "Sender", false},
		{0x0F, "CalendarType", false}, {0x10, "IsLeapMonth", false},
		{0x11, "AccountId", false}, {0x12, "FirstDayOfWeek", false},
		{0x13, "MeetingMessageType", false}, {0x15, "IsDraft", false},
		{0x16, "Bcc", false}, {0x17, "Send", false},
	}},
	{PageNotes, "Notes", []tagDef{
		{0x05, "Subject", false}, {0x06, "MessageClass", false},
		{0x07, "LastModifiedDate", false}, {0x08, "Categories", false},
		{0x09, "Category", false},
	}},
	{PageRightsManagement, "RightsManagement", []tagDef{
		{0x05, "RightsManagementSupport", false},
		{0x06, "RightsManagementTemplates", false},
		{0x07, "RightsManagementTemplate", false},
		{0x08, "RightsManagementLicense", false}, {0x09, "EditAllowed", false},
		{0x0A, "ReplyAllowed", false}, {0x0B, "ReplyAllAllowed", false},
		{0x0C, "ForwardAllowed", false}, {0x0D, "ModifyRecipientsAllowed", false},
		{0x0E, "ExtractAllowed", false}, {0x0F, "PrintAllowed", false},
		{0x10, "ExportAllowed", false}, {0x11, "ProgrammaticAccessAllowed", false},
		{0x12, "Owner", false}, {0x13, "ContentExpiryDate", false},
		{0x14, "TemplateID", false}, {0x15, "TemplateName", false},
		{0x16, "TemplateDescription", false}, {0x17, "ContentOwner", false},
		{0x18, "RemoveRightsManagementProtection", false},
	}},
	// Code page 25 was added with protocol 16.1 for the Find command.
	{PageFind, "Find", []tagDef{
		{0x05, "Find", false}, {0x06, "SearchId", false},
		{0x07, "ExecuteSearch", false}, {0x08, "MailBoxSearchCriterion", false},
		{0x09, "Query", false}, {0x0A, "Status", false}, {0x0B, "FreeText", false},
		{0x0C, "Options", false}, {0x0D, "Range", false},
		{0x0E, "DeepTraversal", false}, {0x11, "Response", false},
		{0x12, "Result", false}, {0x13, "Properties", false},
		{0x14, "Preview", false}, {0x15, "HasAttachments", false},
		{0x16, "Total", false}, {0x17, "DisplayCc", false},
		{0x18, "DisplayBcc", false}, {0x19, "GalSearchCriterion", false},
		{0x20, "MaxPictures", false}, {0x21, "MaxSize", false},
		{0x22, "Picture", false},
	}},
}

// NumPages is the number of code pages EAS defines (0..25).
const NumPages = 26

var (
	// pageNames[p] is the namespace of page p, or "" past the EAS range.
	pageNames [256]string
	// tagInfos[p][t] holds the table entry for token t on page p; its Name
	// is "" when the tables do not define the token.
	tagInfos [NumPages][MaxToken + 1]TagInfo
	// byName maps "Namespace:Local" to its tag.
	byName = map[string]Tag{}
	// pageByName maps a namespace to its page number.
	pageByName = map[string]uint8{}
)

func init() {
	for _, p := range pageTable {
		pageNames[p.num] = p.name
		pageByName[p.name] = p.num
		for _, d := range p.tags {
			name := p.name + ":" + d.name
			t := Tag{Page: p.num, Token: d.tok}
			tagInfos[p.num][d.tok] = TagInfo{Tag: t, Name: name, Legacy: d.legacy}
			byName[name] = t
		}
	}
}

// PageName returns the namespace of code page p ("AirSync", "Email", ...),
// or its number in hex ("0x1A") for a page EAS does not define.
func PageName(p uint8) string {
	if n := pageNames[p]; n != "" {
		return n
	}
	return "0x" + hex2(p)
}

// PageByName returns the code page of a namespace such as "AirSyncBase".
func PageByName(ns string) (uint8, bool) {
	p, ok := pageByName[ns]
	return p, ok
}

// Tags returns the table entries of code page p in token order; nil for a
// page EAS does not define.
func Tags(p uint8) []TagInfo {
	if int(p) >= NumPages {
		return nil
	}
	var out []TagInfo
	for _, ti := range tagInfos[p] {
		if ti.Name != "" {
			out = append(out, ti)
		}
	}
	return out
}

// Info returns the table entry of t and whether the tables define it.
func (t Tag) Info() (TagInfo, bool) {
	if int(t.Page) < NumPages && t.Token <= MaxToken {
		if ti := tagInfos[t.Page][t.Token]; ti.Name != "" {
			return ti, true
		}
	}
	return TagInfo{Tag: t}, false
}

// Known reports whether the code page tables define t.
func (t Tag) Known() bool {
	_, ok := t.Info()
	return ok
}

// Name returns the qualified name of t: "AirSync:Sync" for a defined tag,
// "AirSync:0x3A" for an undefined token on an EAS page, "0x1A:0x05" past
// the EAS pages.
func (t Tag) Name() string {
	if ti, ok := t.Info(); ok {
		return ti.Name
	}
	return PageName(t.Page) + ":0x" + hex2(t.Token)
}

// String returns t.Name().
func (t Tag) String() string { return t.Name() }

// LookupTag resolves a qualified name as [Tag.Name] prints it:
// "Namespace:Local", "Namespace:0x3A" or "0x1A:0x05". The token of the hex
// forms must lie in [MinToken, MaxToken].
func LookupTag(name string) (Tag, bool) {
	if t, ok := byName[name]; ok {
		return t, true
	}
	ns, local, ok := strings.Cut(name, ":")
	if !ok {
		return Tag{}, false
	}
	var page uint8
	if p, ok := pageByName[ns]; ok {
		page = p
	} else if p, ok := parseHexByte(ns); ok {
		page = p
	} else {
		return Tag{}, false
	}
	tok, ok := parseHexByte(local)
	if !ok || tok < MinToken || tok > MaxToken {
		return Tag{}, false
	}
	return Tag{Page: page, Token: tok}, true
}

// MustTag is LookupTag for names fixed in the program text; it panics on an
// unknown name, which is a programming error.
func MustTag(name string) Tag {
	t, ok := LookupTag(name)
	if !ok {
		panic(fmt.Sprintf("wbxml: unknown tag name %q", name))
	}
	return t
}

func hex2(b uint8) string {
	const digits = "0123456789ABCDEF"
	return string([]byte{digits[b>>4], digits[b&0x0F]})
}

// parseHexByte parses "0xNN" (either case, exactly two digits, matching
// what hex2 prints so that names stay unique).
func parseHexByte(s string) (uint8, bool) {
	if len(s) != 4 || (s[:2] != "0x" && s[:2] != "0X") {
		return 0, false
	}
	v, err := strconv.ParseUint(s[2:], 16, 8)
	if err != nil {
		return 0, false
	}
	return uint8(v), true
}

package devicesync

import (
	"bytes"
	"encoding/json"
	"net/http"

	bolt "go.etcd.io/bbolt"
)

// The email security document: device management may push the gateway's
// transforms (links, attachments, classification) as it pushes the device
// policy. The document is the transforms section of the configuration
// file written as JSON, transform.Config (package cmd/enforcer/config
// parses it into that type, with the same checks, refusing fields that
// name files); this package stores it and hands it over, opaque.

var keyTransforms = []byte("transforms")

// pathTransforms is the push API's route for the document.
const pathTransforms = "/v1/transforms"

// SetTransforms stores the email security document (nil removes it), in
// one fsynced transaction.
func (db *DB) SetTransforms(doc []byte) error {
	return db.bdb.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketPolicy)
		if doc == nil {
			return b.Delete(keyTransforms)
		}
		return b.Put(keyTransforms, bytes.Clone(doc))
	})
}

// Transforms returns the stored email security document, nil when none.
func (db *DB) Transforms() ([]byte, error) {
	var doc []byte
	err := db.bdb.View(func(tx *bolt.Tx) error {
		doc = bytes.Clone(tx.Bucket(bucketPolicy).Get(keyTransforms))
		return nil
	})
	return doc, err
}

// transformsRemoved reports whether a document sent in a change or a
// pull page is the JSON literal null: remove the stored one.
func transformsRemoved(doc json.RawMessage) bool {
	return string(bytes.TrimSpace(doc)) == "null"
}

// TransformsHook lets the gateway check a pushed or pulled document before
// it is stored and put it in force after.
type TransformsHook struct {
	// Check refuses a document the gateway cannot apply; its error is
	// the 400 answer.
	Check func(doc []byte) error
	// Apply puts a stored document in force (nil: removed).
	Apply func(doc []byte)
}

// transforms serves PUT, GET and DELETE on /v1/transforms.
func (h *pushHandler) transforms(w http.ResponseWriter, r *http.Request) (any, error) {
	hook := h.opts.Transforms
	if hook.Check == nil {
		return nil, errorf(http.StatusNotFound, "this gateway takes no email security document")
	}
	switch r.Method {
	case http.MethodGet:
		doc, err := h.db.Transforms()
		if err != nil {
			return nil, err
		}
		if doc == nil {
			return nil, errorf(http.StatusNotFound, "no email security document stored")
		}
		return json.RawMessage(doc), nil
	case http.MethodDelete:
		if err := h.db.SetTransforms(nil); err != nil {
			return nil, err
		}
		if hook.Apply != nil {
			hook.Apply(nil)
		}
		h.opts.Logger.Info("email security document removed", "remote", r.RemoteAddr)
		return map[string]string{"result": "removed"}, nil
	case http.MethodPut:
		var doc json.RawMessage
		if err := readBody(w, r, h.opts.MaxBodyBytes, &doc); err != nil {
			return nil, err
		}
		if err := hook.Check(doc); err != nil {
			return nil, errorf(http.StatusBadRequest, "%v", err)
		}
		if err := h.db.SetTransforms(doc); err != nil {
			return nil, err
		}
		if hook.Apply != nil {
			hook.Apply(doc)
		}
		h.opts.Logger.Info("email security document stored", "remote", r.RemoteAddr, "bytes", len(doc))
		return map[string]string{"result": "stored"}, nil
	}
	return nil, errorf(http.StatusMethodNotAllowed, "method %s not allowed on %s", r.Method, pathTransforms)
}

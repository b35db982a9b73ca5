package mongodb

import (
	"fmt"
	"slices"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// MetadataJSON returns the <collection>.metadata.json that mongodump writes
// for coll: canonical extended JSON with, in mongodump's order, "options"
// (left out when empty), "indexes" (always an array; empty for views),
// "uuid" (left out when unknown), "collectionName" and "type". Every BSON
// type in options and indexes keeps its exact type ({"$numberInt":"1"}...),
// so mongorestore and ParseMetadataJSON read back the same values. db only
// names the collection in errors.
func MetadataJSON(db string, coll Collection) ([]byte, error) {
	doc := bson.D{}
	if len(coll.Options) > 0 {
		elems, err := coll.Options.Elements()
		if err != nil {
			return nil, fmt.Errorf("writing the metadata of %s.%s: the options are not valid BSON: %w", db, coll.Name, err)
		}
		if len(elems) > 0 {
			doc = append(doc, bson.E{Key: "options", Value: coll.Options})
		}
	}
	indexes := bson.A{}
	for _, idx := range coll.Indexes {
		indexes = append(indexes, idx)
	}
	doc = append(doc, bson.E{Key: "indexes", Value: indexes})
	if coll.UUID != "" {
		doc = append(doc, bson.E{Key: "uuid", Value: coll.UUID})
	}
	typ := coll.Type
	if typ == "" {
		typ = "collection"
	}
	doc = append(doc, bson.E{Key: "collectionName", Value: coll.Name}, bson.E{Key: "type", Value: typ})
	out, err := bson.MarshalExtJSON(doc, true, false)
	if err != nil {
		return nil, fmt.Errorf("writing the metadata of %s.%s: %w", db, coll.Name, err)
	}
	return out, nil
}

// ParseMetadataJSON reads a .metadata.json written by MetadataJSON or by
// mongodump (canonical or relaxed extended JSON). A file without "type" is a
// view when its options have viewOn, else a collection. Name is empty when
// the file has no collectionName (older mongodump); take it from the file
// name then.
func ParseMetadataJSON(data []byte) (Collection, error) {
	var raw bson.Raw
	if err := bson.UnmarshalExtJSON(data, false, &raw); err != nil {
		return Collection{}, fmt.Errorf("reading collection metadata: not valid extended JSON: %w", err)
	}
	coll := Collection{Options: emptyDoc, Indexes: []bson.Raw{}}
	if v, err := raw.LookupErr("collectionName"); err == nil {
		name, ok := v.StringValueOK()
		if !ok {
			return Collection{}, fmt.Errorf("reading collection metadata: collectionName is a %s, not a string", v.Type)
		}
		coll.Name = name
	}
	if v, err := raw.LookupErr("options"); err == nil {
		o, ok := v.DocumentOK()
		if !ok {
			return Collection{}, fmt.Errorf("reading the metadata of %q: options is a %s, not a document", coll.Name, v.Type)
		}
		coll.Options = slices.Clone(o)
	}
	if v, err := raw.LookupErr("indexes"); err == nil {
		arr, ok := v.ArrayOK()
		if !ok {
			return Collection{}, fmt.Errorf("reading the metadata of %q: indexes is a %s, not an array", coll.Name, v.Type)
		}
		vals, err := arr.Values()
		if err != nil {
			return Collection{}, fmt.Errorf("reading the metadata of %q: indexes: %w", coll.Name, err)
		}
		for i, iv := range vals {
			d, ok := iv.DocumentOK()
			if !ok {
				return Collection{}, fmt.Errorf("reading the metadata of %q: index %d is a %s, not a document", coll.Name, i, iv.Type)
			}
			coll.Indexes = append(coll.Indexes, slices.Clone(d))
		}
	}
	if v, err := raw.LookupErr("uuid"); err == nil {
		u, ok := v.StringValueOK()
		if !ok {
			return Collection{}, fmt.Errorf("reading the metadata of %q: uuid is a %s, not a string", coll.Name, v.Type)
		}
		coll.UUID = u
	}
	if v, err := raw.LookupErr("type"); err == nil {
		t, ok := v.StringValueOK()
		if !ok {
			return Collection{}, fmt.Errorf("reading the metadata of %q: type is a %s, not a string", coll.Name, v.Type)
		}
		coll.Type = t
	}
	if coll.Type == "" {
		coll.Type = "collection"
		if _, err := coll.Options.LookupErr("viewOn"); err == nil {
			coll.Type = "view"
		}
	}
	return coll, nil
}

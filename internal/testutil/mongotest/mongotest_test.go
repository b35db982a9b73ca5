package mongotest

import (
	"context"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
)

func TestStartInsertFind(t *testing.T) {
	t.Parallel()
	srv := Start(t)
	client := srv.Client(t)
	db := srv.NewDatabase(t)
	if other := srv.NewDatabase(t); other == db {
		t.Fatalf("NewDatabase returned %q twice", db)
	}
	doc, err := bson.Marshal(bson.D{{Key: "_id", Value: 1}, {Key: "v", Value: "x"}})
	if err != nil {
		t.Fatal(err)
	}
	srv.MustInsert(t, client, db, "c", doc)
	got, err := client.Database(db).Collection("c").FindOne(context.Background(), bson.D{}).Raw()
	if err != nil {
		t.Fatalf("reading back: %v", err)
	}
	if string(got) != string(doc) {
		t.Fatalf("read %v, want %v", got, bson.Raw(doc))
	}
}

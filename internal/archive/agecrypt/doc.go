// Package agecrypt writes and reads age v1 files (age-encryption.org/v1) in
// a way that a checkpointing backup can pause and continue in another
// process: a Writer's State holds everything needed to go on with the same
// encrypted stream, and Resume goes on from it. docs/architecture.md describes
// the archive this encrypts.
//
// # Format
//
// A file is the age header (an intro line, one recipient stanza per
// recipient, a MAC line), a random 16-byte nonce and the STREAM payload: the
// plaintext cut into chunks of ChunkSize bytes, each sealed with
// ChaCha20-Poly1305 under the payload key (HKDF-SHA-256 of the file key,
// salt the nonce, info "payload") and the 12-byte nonce made of the chunk
// counter (11 bytes, big-endian) and a last-chunk flag byte. Only the last
// chunk is sealed with the flag set; only it may be shorter than ChunkSize,
// and it is empty only when the whole plaintext is.
//
// The header is made by filippo.io/age itself (age.Encrypt with recipients
// that also note the file key they are asked to wrap), so its encoding, its
// MAC and the rules on which recipients may be mixed are the library's; the
// payload is written here, because the library's stream writer keeps its
// state private and cannot be resumed. NewReader decrypts with age.Decrypt,
// which authenticates every chunk before returning any of its plaintext.
//
// # Checkpoints
//
// In a backup the layers are tar → compressor → Writer → hasher →
// destination: the hasher and the destination see ciphertext only. A
// checkpoint goes like this:
//
//  1. The compressor's member or frame is closed into the Writer, as for an
//     unencrypted archive.
//  2. Writer.State is taken. The Writer is NOT flushed: a chunk shorter than
//     ChunkSize may only be the last one, so up to ChunkSize plaintext bytes
//     (Writer.Buffered) stay unsealed and travel in State.Pending instead.
//     Every byte the hasher and the destination have received is exactly
//     State.Written() bytes of ciphertext, header included; the archive
//     writer's byte count and SHA-256 state must cover the same bytes.
//  3. State.MarshalBinary gives the bytes to save. They hold the payload
//     key and plaintext: seal them with the server key before they are
//     stored anywhere, and never log them (State refuses to be marshalled
//     to JSON and prints as a redacted value).
//  4. To continue, unseal, State.UnmarshalBinary, and Resume on a writer
//     that goes on hashing from the saved hash state; the next compressed
//     member is written into the resumed Writer. Close seals the last chunk.
//
// # One ciphertext per chunk number
//
// The payload key and the chunk numbers are fixed for the whole file, so
// two different chunks sealed under the same number reuse a
// ChaCha20-Poly1305 nonce: whoever sees both learns the XOR of the two
// plaintexts and can forge that chunk. Every continuation of a State (the
// Writer going on after State, or Resume) seals chunk numbers from
// State.Chunks on, over plaintext that generally differs from one
// continuation to the other (checkpoints fall elsewhere, sources change).
// The rule is therefore: for each chunk number, at most one sealed chunk may
// ever leave the process. A caller keeps it by either
//
//   - never letting ciphertext past the last durably saved State leave the
//     process: a part is cut and uploaded only once a checkpoint that holds
//     its bytes (as uploaded parts or in the saved tail) is saved, so that
//     after a crash, or a lost lease, nothing past that checkpoint has been
//     seen and resuming it is safe; or
//   - after a crash or a lost lease, starting the archive afresh with
//     NewWriter (a new file key) instead of resuming.
//
// A clean pause (State taken and saved, nothing written after it) is always
// safe to resume. Never resume a State older than the last one saved.
package agecrypt

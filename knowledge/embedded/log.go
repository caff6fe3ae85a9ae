package embedded

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"os"
	"path/filepath"

	"github.com/cityagent/cityagent/knowledge"
)

// The log file starts with logMagic; then come records, each
//
//	uint32 length of payload (little-endian)
//	uint32 CRC-32C of payload
//	payload: op byte, then op-specific bytes
//
// A put payload is uvarint(len(header)), the JSON header (document without
// text, chunks), uvarint(dim), uvarint(count) and count×dim float32s,
// little-endian. A delete payload is a JSON {collection, id}.
const (
	logMagic      = "CAKBLOG1"
	headerSize    = 8
	maxRecordSize = 1 << 30

	opPut    byte = 1
	opDelete byte = 2
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// errCorrupt marks a record that fails its length or checksum: the tail of a
// write that never completed.
var errCorrupt = errors.New("embedded: corrupt record")

type putHeader struct {
	Doc    knowledge.Document `json:"doc"`
	Chunks []knowledge.Chunk  `json:"chunks"`
}

type deleteBody struct {
	Collection string `json:"collection"`
	ID         string `json:"id"`
}

// record is a decoded log entry.
type record struct {
	op     byte
	doc    knowledge.Document
	chunks []knowledge.Chunk
	vecs   [][]float32
	dim    int
	terms  []chunkTerms // computed by Put outside the committer; nil when replaying
	del    deleteBody
	size   int64 // bytes in the log, header included
}

func encodePut(doc knowledge.Document, chunks []knowledge.Chunk, vecs [][]float32, dim int) ([]byte, error) {
	doc.Text = ""
	js, err := json.Marshal(putHeader{Doc: doc, Chunks: chunks})
	if err != nil {
		return nil, fmt.Errorf("embedded: encode %s/%s: %w", doc.Collection, doc.ID, err)
	}
	buf := make([]byte, headerSize, headerSize+1+3*binary.MaxVarintLen64+len(js)+4*dim*len(vecs))
	buf = append(buf, opPut)
	buf = binary.AppendUvarint(buf, uint64(len(js)))
	buf = append(buf, js...)
	buf = binary.AppendUvarint(buf, uint64(dim))
	buf = binary.AppendUvarint(buf, uint64(len(vecs)))
	for _, v := range vecs {
		for _, x := range v {
			buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(x))
		}
	}
	return seal(buf)
}

func encodeDelete(collection, id string) ([]byte, error) {
	js, err := json.Marshal(deleteBody{Collection: collection, ID: id})
	if err != nil {
		return nil, err
	}
	buf := append(make([]byte, headerSize, headerSize+1+len(js)), opDelete)
	return seal(append(buf, js...))
}

// seal fills in the length and checksum of a record built after headerSize
// reserved bytes.
func seal(buf []byte) ([]byte, error) {
	n := len(buf) - headerSize
	if n > maxRecordSize {
		return nil, fmt.Errorf("embedded: record of %d bytes exceeds the %d-byte limit", n, maxRecordSize)
	}
	binary.LittleEndian.PutUint32(buf[0:], uint32(n))
	binary.LittleEndian.PutUint32(buf[4:], crc32.Checksum(buf[headerSize:], castagnoli))
	return buf, nil
}

// readRecord reads the next record of a file with remaining bytes left. It returns io.EOF at a clean end, and
// errCorrupt for a torn or damaged record; any other error is a read failure
// or a record that passed its checksum but cannot be decoded (a bug, not a
// crash), which must not be truncated away.
func readRecord(r *bufio.Reader, remaining int64) (record, error) {
	var hdr [headerSize]byte
	n, err := io.ReadFull(r, hdr[:])
	switch {
	case err == io.EOF:
		return record{}, io.EOF
	case err == io.ErrUnexpectedEOF:
		return record{}, fmt.Errorf("%w: header cut after %d bytes", errCorrupt, n)
	case err != nil:
		return record{}, err
	}
	size := binary.LittleEndian.Uint32(hdr[0:])
	sum := binary.LittleEndian.Uint32(hdr[4:])
	if size == 0 || size > maxRecordSize || int64(size) > remaining-headerSize {
		return record{}, fmt.Errorf("%w: length %d with %d bytes left", errCorrupt, size, remaining-headerSize)
	}
	payload := make([]byte, size)
	if _, err := io.ReadFull(r, payload); err != nil {
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return record{}, fmt.Errorf("%w: payload cut", errCorrupt)
		}
		return record{}, err
	}
	if crc32.Checksum(payload, castagnoli) != sum {
		return record{}, fmt.Errorf("%w: checksum mismatch", errCorrupt)
	}
	rec, err := decodePayload(payload)
	if err != nil {
		return record{}, err
	}
	rec.size = int64(headerSize) + int64(size)
	return rec, nil
}

func decodePayload(p []byte) (record, error) {
	rec := record{op: p[0]}
	p = p[1:]
	switch rec.op {
	case opDelete:
		if err := json.Unmarshal(p, &rec.del); err != nil {
			return record{}, fmt.Errorf("embedded: decode delete: %w", err)
		}
		return rec, nil
	case opPut:
	default:
		return record{}, fmt.Errorf("embedded: unknown record type %d", rec.op)
	}
	uv := func() (int, error) {
		v, n := binary.Uvarint(p)
		if n <= 0 || v > maxRecordSize {
			return 0, errors.New("bad length")
		}
		p = p[n:]
		return int(v), nil
	}
	hl, err := uv()
	if err != nil || hl > len(p) {
		return record{}, fmt.Errorf("embedded: decode put: header length")
	}
	var h putHeader
	if err := json.Unmarshal(p[:hl], &h); err != nil {
		return record{}, fmt.Errorf("embedded: decode put: %w", err)
	}
	p = p[hl:]
	dim, err1 := uv()
	count, err2 := uv()
	if err1 != nil || err2 != nil || count != len(h.Chunks) || len(p) != 4*dim*count {
		return record{}, fmt.Errorf("embedded: decode put %s/%s: vector block does not match", h.Doc.Collection, h.Doc.ID)
	}
	flat := make([]float32, dim*count)
	for i := range flat {
		flat[i] = math.Float32frombits(binary.LittleEndian.Uint32(p[4*i:]))
	}
	rec.doc, rec.chunks, rec.dim = h.Doc, h.Chunks, dim
	rec.vecs = make([][]float32, count)
	for i := range rec.vecs {
		rec.vecs[i] = flat[i*dim : (i+1)*dim : (i+1)*dim]
	}
	return rec, nil
}

// load opens the log and replays it into memory.
func (s *Store) load() error {
	// A compaction that did not reach its rename left only a temporary file.
	if err := os.Remove(filepath.Join(s.dir, compactName)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	path := filepath.Join(s.dir, logName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o640)
	if err != nil {
		return err
	}
	s.f = f
	st, err := f.Stat()
	if err != nil {
		return err
	}
	size := st.Size()
	if size < int64(len(logMagic)) {
		// New, or its creation was cut short.
		head := make([]byte, size)
		if _, err := io.ReadFull(f, head); err != nil {
			return err
		}
		if string(head) != logMagic[:size] {
			return fmt.Errorf("%s is not a knowledge log", path)
		}
		if err := f.Truncate(0); err != nil {
			return err
		}
		if _, err := f.WriteString(logMagic); err != nil {
			return err
		}
		if err := f.Sync(); err != nil {
			return err
		}
		s.logBytes.Store(int64(len(logMagic)))
		return syncDir(s.dir)
	}
	magic := make([]byte, len(logMagic))
	if _, err := io.ReadFull(f, magic); err != nil {
		return err
	}
	if string(magic) != logMagic {
		return fmt.Errorf("%s is not a knowledge log", path)
	}
	off := int64(len(logMagic))
	r := bufio.NewReaderSize(io.NewSectionReader(f, off, size-off), 1<<20)
	for {
		rec, err := readRecord(r, size-off)
		if err == io.EOF {
			break
		}
		if errors.Is(err, errCorrupt) {
			s.truncated = size - off
			if err := f.Truncate(off); err != nil {
				return err
			}
			if err := f.Sync(); err != nil {
				return err
			}
			break
		}
		if err != nil {
			return fmt.Errorf("replay at offset %d: %w", off, err)
		}
		if rec.op == opPut && s.dim != 0 && rec.dim != s.dim {
			return fmt.Errorf("replay at offset %d: vectors of %d dimensions in a store of %d", off, rec.dim, s.dim)
		}
		s.apply(rec)
		off += rec.size
	}
	s.logBytes.Store(off)
	return nil
}

package embedded

import (
	"bufio"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"

	"github.com/cityagent/cityagent/knowledge"
)

// The log file starts with logMagic and an 8-byte generation, a random
// number that changes whenever the log is rewritten, so that a snapshot knows
// which log it describes. Then come records, each
//
//	uint32 length of payload (little-endian)
//	uint32 CRC-32C of payload
//	payload: op byte, then op-specific bytes
//
// A put payload is uvarint(len(header)), the JSON header (the document
// without text and its chunks without text), uvarint(dim), uvarint(count),
// count chunk texts each as uvarint(len) and the UTF-8 bytes, then count×dim
// float32s, little-endian (dim is 0 for a store without vectors). The texts
// are stored raw so that the store can read one chunk's text back by its
// offset. A delete payload is a JSON {collection, id}; a collection payload
// a JSON {collection}.
//
// Version 1 logs (CAKBLOG1: texts inside the JSON, no generation) are
// rewritten as version 2 when opened.
const (
	logMagic      = "CAKBLOG2"
	logMagicV1    = "CAKBLOG1"
	logHeaderSize = len(logMagic) + 8
	headerSize    = 8
	maxRecordSize = 1 << 30

	opPut        byte = 1
	opDelete     byte = 2
	opCollection byte = 3
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
	ID         string `json:"id,omitempty"`
}

// record is a decoded log entry.
type record struct {
	op     byte
	doc    knowledge.Document
	chunks []knowledge.Chunk // Text set when decoded from the log
	vecs   [][]float32
	dim    int
	// textAt[i] is where chunk i's text starts, relative to the record's
	// first byte; textLen[i] its length.
	textAt  []int32
	textLen []int32
	del     deleteBody
	size    int64 // bytes in the log, header included
}

func newGeneration() uint64 {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return binary.LittleEndian.Uint64(b[:]) | 1
}

func logHeader(gen uint64) []byte {
	return binary.LittleEndian.AppendUint64([]byte(logMagic), gen)
}

// encodePut returns the sealed record and where each chunk's text starts in
// it.
func encodePut(doc knowledge.Document, chunks []knowledge.Chunk, vecs [][]float32, dim int) ([]byte, []int32, error) {
	doc.Text = ""
	bare := make([]knowledge.Chunk, len(chunks))
	textBytes := 0
	for i, c := range chunks {
		textBytes += len(c.Text) + binary.MaxVarintLen32
		c.Text = ""
		bare[i] = c
	}
	js, err := json.Marshal(putHeader{Doc: doc, Chunks: bare})
	if err != nil {
		return nil, nil, fmt.Errorf("embedded: encode %s/%s: %w", doc.Collection, doc.ID, err)
	}
	if dim == 0 {
		vecs = nil
	}
	buf := make([]byte, headerSize, headerSize+1+3*binary.MaxVarintLen64+len(js)+textBytes+4*dim*len(vecs))
	buf = append(buf, opPut)
	buf = binary.AppendUvarint(buf, uint64(len(js)))
	buf = append(buf, js...)
	buf = binary.AppendUvarint(buf, uint64(dim))
	buf = binary.AppendUvarint(buf, uint64(len(chunks)))
	at := make([]int32, len(chunks))
	for i, c := range chunks {
		buf = binary.AppendUvarint(buf, uint64(len(c.Text)))
		at[i] = int32(len(buf))
		buf = append(buf, c.Text...)
	}
	for _, v := range vecs {
		for _, x := range v {
			buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(x))
		}
	}
	buf, err = seal(buf)
	return buf, at, err
}

func encodeJSON(op byte, body any) ([]byte, error) {
	js, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	buf := append(make([]byte, headerSize, headerSize+1+len(js)), op)
	return seal(append(buf, js...))
}

// seal fills in the length and checksum of a record built after headerSize
// reserved bytes.
func seal(buf []byte) ([]byte, error) {
	n := len(buf) - headerSize
	if n > maxRecordSize {
		return nil, fmt.Errorf("embedded: record of %d bytes exceeds the %d-byte limit: %w", n, maxRecordSize, knowledge.ErrInvalid)
	}
	binary.LittleEndian.PutUint32(buf[0:], uint32(n))
	binary.LittleEndian.PutUint32(buf[4:], crc32.Checksum(buf[headerSize:], castagnoli))
	return buf, nil
}

// readRecord reads the next record of a file with remaining bytes left. It
// returns io.EOF at a clean end, and errCorrupt for a torn or damaged record;
// any other error is a read failure or a record that passed its checksum but
// cannot be decoded (a bug, not a crash), which must not be truncated away.
func readRecord(r *bufio.Reader, remaining int64, v1 bool) (record, []byte, error) {
	var hdr [headerSize]byte
	n, err := io.ReadFull(r, hdr[:])
	switch {
	case err == io.EOF:
		return record{}, nil, io.EOF
	case err == io.ErrUnexpectedEOF:
		return record{}, nil, fmt.Errorf("%w: header cut after %d bytes", errCorrupt, n)
	case err != nil:
		return record{}, nil, err
	}
	size := binary.LittleEndian.Uint32(hdr[0:])
	sum := binary.LittleEndian.Uint32(hdr[4:])
	if size == 0 || size > maxRecordSize || int64(size) > remaining-headerSize {
		return record{}, nil, fmt.Errorf("%w: length %d with %d bytes left", errCorrupt, size, remaining-headerSize)
	}
	raw := make([]byte, headerSize+int(size))
	copy(raw, hdr[:])
	payload := raw[headerSize:]
	if _, err := io.ReadFull(r, payload); err != nil {
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return record{}, nil, fmt.Errorf("%w: payload cut", errCorrupt)
		}
		return record{}, nil, err
	}
	if crc32.Checksum(payload, castagnoli) != sum {
		return record{}, nil, fmt.Errorf("%w: checksum mismatch", errCorrupt)
	}
	var rec record
	if v1 {
		rec, err = decodeV1(payload)
	} else {
		rec, err = decodePayload(payload)
	}
	if err != nil {
		return record{}, nil, err
	}
	rec.size = int64(len(raw))
	return rec, raw, nil
}

// decodePayload decodes a version 2 record. Text offsets are relative to
// the record's first byte (its length field).
func decodePayload(p []byte) (record, error) {
	rec := record{op: p[0]}
	body := p[1:]
	switch rec.op {
	case opDelete, opCollection:
		if err := json.Unmarshal(body, &rec.del); err != nil {
			return record{}, fmt.Errorf("embedded: decode record %d: %w", rec.op, err)
		}
		return rec, nil
	case opPut:
	default:
		return record{}, fmt.Errorf("embedded: unknown record type %d", rec.op)
	}
	pos := 1
	uv := func() (int, error) {
		v, n := binary.Uvarint(p[pos:])
		if n <= 0 || v > maxRecordSize {
			return 0, errors.New("bad length")
		}
		pos += n
		return int(v), nil
	}
	hl, err := uv()
	if err != nil || hl > len(p)-pos {
		return record{}, fmt.Errorf("embedded: decode put: header length")
	}
	var h putHeader
	if err := json.Unmarshal(p[pos:pos+hl], &h); err != nil {
		return record{}, fmt.Errorf("embedded: decode put: %w", err)
	}
	pos += hl
	dim, err1 := uv()
	count, err2 := uv()
	if err1 != nil || err2 != nil || count != len(h.Chunks) {
		return record{}, fmt.Errorf("embedded: decode put %s/%s: chunk count does not match", h.Doc.Collection, h.Doc.ID)
	}
	rec.textAt, rec.textLen = make([]int32, count), make([]int32, count)
	for i := range count {
		l, err := uv()
		if err != nil || l > len(p)-pos {
			return record{}, fmt.Errorf("embedded: decode put %s/%s: text %d", h.Doc.Collection, h.Doc.ID, i)
		}
		rec.textAt[i], rec.textLen[i] = int32(headerSize+pos), int32(l)
		h.Chunks[i].Text = string(p[pos : pos+l])
		pos += l
	}
	if len(p)-pos != 4*dim*count {
		return record{}, fmt.Errorf("embedded: decode put %s/%s: vector block does not match", h.Doc.Collection, h.Doc.ID)
	}
	rec.doc, rec.chunks, rec.dim = h.Doc, h.Chunks, dim
	if dim > 0 {
		flat := make([]float32, dim*count)
		for i := range flat {
			flat[i] = math.Float32frombits(binary.LittleEndian.Uint32(p[pos+4*i:]))
		}
		rec.vecs = make([][]float32, count)
		for i := range rec.vecs {
			rec.vecs[i] = flat[i*dim : (i+1)*dim : (i+1)*dim]
		}
	}
	return rec, nil
}

// decodeV1 decodes a version 1 record (texts inside the JSON header).
func decodeV1(p []byte) (record, error) {
	rec := record{op: p[0]}
	p = p[1:]
	switch rec.op {
	case opDelete:
		if err := json.Unmarshal(p, &rec.del); err != nil {
			return record{}, fmt.Errorf("embedded: decode v1 delete: %w", err)
		}
		return rec, nil
	case opPut:
	default:
		return record{}, fmt.Errorf("embedded: unknown v1 record type %d", rec.op)
	}
	hl, n := binary.Uvarint(p)
	if n <= 0 || hl > uint64(len(p)-n) {
		return record{}, errors.New("embedded: decode v1 put: header length")
	}
	p = p[n:]
	var h putHeader
	if err := json.Unmarshal(p[:hl], &h); err != nil {
		return record{}, fmt.Errorf("embedded: decode v1 put: %w", err)
	}
	p = p[hl:]
	dim, n1 := binary.Uvarint(p)
	if n1 <= 0 {
		return record{}, errors.New("embedded: decode v1 put: dim")
	}
	count, n2 := binary.Uvarint(p[n1:])
	if n2 <= 0 || int(count) != len(h.Chunks) || uint64(len(p)-n1-n2) != 4*dim*count {
		return record{}, errors.New("embedded: decode v1 put: vector block does not match")
	}
	p = p[n1+n2:]
	flat := make([]float32, int(dim*count))
	for i := range flat {
		flat[i] = math.Float32frombits(binary.LittleEndian.Uint32(p[4*i:]))
	}
	rec.doc, rec.chunks, rec.dim = h.Doc, h.Chunks, int(dim)
	rec.vecs = make([][]float32, count)
	for i := range rec.vecs {
		rec.vecs[i] = flat[i*int(dim) : (i+1)*int(dim) : (i+1)*int(dim)]
	}
	return rec, nil
}

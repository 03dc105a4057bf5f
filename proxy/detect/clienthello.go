package detect

import "errors"

// ErrNeedMore means the TLS record holding the ClientHello is not complete yet.
var ErrNeedMore = errors.New("detect: incomplete TLS record")

// errMalformed means the bytes are not a ClientHello this parser understands.
var errMalformed = errors.New("detect: malformed ClientHello")

// MaxRecord is the largest TLS record a ClientHello may arrive in (header + 16 KiB).
const MaxRecord = 5 + 16<<10

// ClientHelloALPN returns the ALPN protocols a ClientHello offers, read from the
// first TLS record in b without consuming anything, so a connection that is not
// mesh TLS can still be passed through untouched. It returns ErrNeedMore while
// the record is incomplete. A ClientHello split over several records is
// reported as malformed (callers treat it as not mesh TLS).
func ClientHelloALPN(b []byte) ([]string, error) {
	if len(b) < 5 {
		return nil, ErrNeedMore
	}
	if b[0] != 0x16 || b[1] != 0x03 {
		return nil, errMalformed
	}
	recLen := int(b[3])<<8 | int(b[4])
	if len(b) < 5+recLen {
		return nil, ErrNeedMore
	}
	r := reader(b[5 : 5+recLen])
	if t, ok := r.u8(); !ok || t != 1 { // handshake type client_hello
		return nil, errMalformed
	}
	hsLen, ok := r.u24()
	if !ok || hsLen > len(r) {
		return nil, errMalformed
	}
	r = r[:hsLen]
	// legacy_version(2) random(32) session_id<1> cipher_suites<2> compression<1>
	if !r.skip(34) || !r.skipVec8() || !r.skipVec16() || !r.skipVec8() {
		return nil, errMalformed
	}
	if len(r) == 0 {
		return nil, nil // no extensions
	}
	exts, ok := r.vec16()
	if !ok {
		return nil, errMalformed
	}
	for len(exts) > 0 {
		typ, ok1 := exts.u16()
		body, ok2 := exts.vec16()
		if !ok1 || !ok2 {
			return nil, errMalformed
		}
		if typ == 16 { // application_layer_protocol_negotiation
			return parseALPN(body)
		}
	}
	return nil, nil
}

func parseALPN(body reader) ([]string, error) {
	list, ok := body.vec16()
	if !ok {
		return nil, errMalformed
	}
	var protos []string
	for len(list) > 0 {
		p, ok := list.vec8()
		if !ok || len(p) == 0 {
			return nil, errMalformed
		}
		protos = append(protos, string(p))
	}
	return protos, nil
}

// reader consumes big-endian TLS wire fields from the front of a byte slice.
type reader []byte

func (r *reader) u8() (int, bool) {
	if len(*r) < 1 {
		return 0, false
	}
	v := int((*r)[0])
	*r = (*r)[1:]
	return v, true
}

func (r *reader) u16() (int, bool) {
	if len(*r) < 2 {
		return 0, false
	}
	v := int((*r)[0])<<8 | int((*r)[1])
	*r = (*r)[2:]
	return v, true
}

func (r *reader) u24() (int, bool) {
	if len(*r) < 3 {
		return 0, false
	}
	v := int((*r)[0])<<16 | int((*r)[1])<<8 | int((*r)[2])
	*r = (*r)[3:]
	return v, true
}

func (r *reader) skip(n int) bool {
	if len(*r) < n {
		return false
	}
	*r = (*r)[n:]
	return true
}

func (r *reader) vec8() (reader, bool) {
	n, ok := r.u8()
	if !ok || len(*r) < n {
		return nil, false
	}
	v := (*r)[:n]
	*r = (*r)[n:]
	return v, true
}

func (r *reader) vec16() (reader, bool) {
	n, ok := r.u16()
	if !ok || len(*r) < n {
		return nil, false
	}
	v := (*r)[:n]
	*r = (*r)[n:]
	return v, true
}

func (r *reader) skipVec8() bool  { _, ok := r.vec8(); return ok }
func (r *reader) skipVec16() bool { _, ok := r.vec16(); return ok }

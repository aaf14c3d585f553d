//go:build wasip1

// Package outlayer is OutLayer's guest SDK for Go (GOOS=wasip1 GOARCH=wasm): input and
// output, the environment, refunds, and the platform's capabilities (storage, verifiable
// randomness, NEAR reads, outbound HTTPS), over the host functions of docs/guest-abi.md.
package outlayer

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"unsafe"
)

// Status is a host function's negative status.
type Status int64

const (
	NotFound    Status = -1 // storage: no such key; chain reads: no such account or contract
	NotEnabled  Status = -2 // the capability is off for this run
	Limit       Status = -3 // a per-run cap (calls, bytes, time) is reached
	Quota       Status = -4 // the storage quota is full, or a value is too large
	Invalid     Status = -5 // a malformed argument
	Unavailable Status = -6 // the service did not answer in time; trying later may work
	Refused     Status = -7 // not allowed: off the allowlist, a private address, failed TLS
	Conflict    Status = -8 // storage: another run wrote the key meanwhile
	Failed      Status = -9 // the service answered with an error (a view that panicked)
)

var statusNames = map[Status]string{
	NotFound: "NOT_FOUND", NotEnabled: "NOT_ENABLED", Limit: "LIMIT", Quota: "QUOTA",
	Invalid: "INVALID", Unavailable: "UNAVAILABLE", Refused: "REFUSED", Conflict: "CONFLICT",
	Failed: "FAILED",
}

// String is the ABI's name of the status: "NOT_FOUND", ...
func (s Status) String() string {
	if name, ok := statusNames[s]; ok {
		return name
	}
	return "UNKNOWN"
}

// Error is a failed host call: its status and the platform's message.
type Error struct {
	Status  Status
	Message string
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s (%d): %s", e.Status, int64(e.Status), e.Message)
}

// Is makes errors.Is(err, outlayer.ErrNotFound) match any error of that status.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Status == e.Status
}

// Sentinels for errors.Is.
var (
	ErrNotFound    = &Error{Status: NotFound}
	ErrNotEnabled  = &Error{Status: NotEnabled}
	ErrLimit       = &Error{Status: Limit}
	ErrQuota       = &Error{Status: Quota}
	ErrInvalid     = &Error{Status: Invalid}
	ErrUnavailable = &Error{Status: Unavailable}
	ErrRefused     = &Error{Status: Refused}
	ErrConflict    = &Error{Status: Conflict}
	ErrFailed      = &Error{Status: Failed}
)

// Input is the run's whole input (stdin).
func Input() []byte {
	data, err := io.ReadAll(os.Stdin)
	if err != nil {
		panic("reading stdin: " + err.Error())
	}
	return data
}

// Output writes the run's output (stdout).
func Output(data []byte) {
	if _, err := os.Stdout.Write(data); err != nil {
		panic("writing stdout: " + err.Error())
	}
}

// Env is an environment variable: the platform's own (NEAR_SENDER_ID, OUTLAYER_CALL_ID,
// ATTACHED_USD, ...) or a secret the request names; "" when unset.
func Env(name string) string {
	return os.Getenv(name)
}

// RefundUSD gives back part of the USD payment attached to the call (ATTACHED_USD, in the
// coin's smallest unit); capped at what was attached, and the last call counts.
func RefundUSD(amount uint64) {
	if amount > 1<<63-1 {
		amount = 1<<63 - 1
	}
	refundUSD(int64(amount))
}

// --- the result buffer --------------------------------------------------------------------

func ptr(b []byte) unsafe.Pointer { return unsafe.Pointer(unsafe.SliceData(b)) }

func str(s string) (unsafe.Pointer, uint32) {
	return unsafe.Pointer(unsafe.StringData(s)), uint32(len(s))
}

func readResult(length int) []byte {
	if length > 0 {
		buffer := make([]byte, length)
		return buffer[:resultRead(ptr(buffer), uint32(length))]
	}
	for capacity := 256; ; capacity *= 4 { // a message of unknown length
		buffer := make([]byte, capacity)
		copied := int(resultRead(ptr(buffer), uint32(capacity)))
		if copied < capacity {
			return buffer[:copied]
		}
	}
}

func check(status int64) (int64, error) {
	if status >= 0 {
		return status, nil
	}
	return 0, &Error{Status: Status(status), Message: string(readResult(0))}
}

func answer(status int64) ([]byte, error) {
	n, err := check(status)
	if err != nil {
		return nil, err
	}
	if n == 0 {
		return []byte{}, nil
	}
	return readResult(int(n)), nil
}

// --- storage ------------------------------------------------------------------------------

// Space is one space of the run's store: Shared (every caller) or PerCaller (the caller's
// own: the request's signer, the payment key's owner).
type Space uint32

const (
	Shared    Space = 0
	PerCaller Space = 1
)

const expectAbsent = 2

// Get is the value of key; an error matching ErrNotFound when there is none.
func (s Space) Get(key string) ([]byte, error) {
	k, kn := str(key)
	return answer(storageGet(k, kn, uint32(s)))
}

func (s Space) Set(key string, value []byte) error {
	k, kn := str(key)
	_, err := check(storageSet(k, kn, ptr(value), uint32(len(value)), uint32(s)))
	return err
}

// Delete reports whether it deleted the key (false: there was none).
func (s Space) Delete(key string) (bool, error) {
	k, kn := str(key)
	n, err := check(storageDelete(k, kn, uint32(s)))
	return n == 1, err
}

// Swap writes value if the key holds expected; false if it held something else.
func (s Space) Swap(key string, expected, value []byte) (bool, error) {
	k, kn := str(key)
	n, err := check(storageSwap(k, kn, ptr(expected), uint32(len(expected)), ptr(value),
		uint32(len(value)), uint32(s)))
	return n == 1, err
}

// SwapIfAbsent writes value only if the key is absent.
func (s Space) SwapIfAbsent(key string, value []byte) (bool, error) {
	k, kn := str(key)
	n, err := check(storageSwap(k, kn, nil, 0, ptr(value), uint32(len(value)),
		uint32(s)|expectAbsent))
	return n == 1, err
}

// Increment adds delta to the decimal counter at key (absent counts as 0): the new total.
func (s Space) Increment(key string, delta int64) (int64, error) {
	k, kn := str(key)
	total, err := answer(storageIncrement(k, kn, delta, uint32(s)))
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(string(total), 10, 64)
}

// ListPage is a page of keys; NextCursor is "" on the last page.
type ListPage struct {
	Keys       []string `json:"keys"`
	NextCursor string   `json:"next_cursor"`
}

// List is up to 100 keys starting with prefix, in order after cursor ("" from the start).
func (s Space) List(prefix, cursor string) (*ListPage, error) {
	p, pn := str(prefix)
	c, cn := str(cursor)
	data, err := answer(storageList(p, pn, c, cn, uint32(s)))
	if err != nil {
		return nil, err
	}
	page := &ListPage{}
	return page, json.Unmarshal(data, page)
}

// The shared space's operations.
func Get(key string) ([]byte, error)                  { return Shared.Get(key) }
func Set(key string, value []byte) error              { return Shared.Set(key, value) }
func Delete(key string) (bool, error)                 { return Shared.Delete(key) }
func Swap(key string, expected, value []byte) (bool, error) { return Shared.Swap(key, expected, value) }
func SwapIfAbsent(key string, value []byte) (bool, error) { return Shared.SwapIfAbsent(key, value) }
func Increment(key string, delta int64) (int64, error) { return Shared.Increment(key, delta) }
func List(prefix, cursor string) (*ListPage, error)    { return Shared.List(prefix, cursor) }

// --- randomness ---------------------------------------------------------------------------

// Randomness is an ECVRF (RFC 9381) output for the job's request and a seed, with its proof
// (anyone checks it: outlayer vrf verify --origin ORIGIN --seed HEX --proof HEX).
type Randomness struct {
	Output    []byte
	Proof     []byte
	PublicKey []byte
	Origin    string
	Seed      []byte
	Prover    string
	JSON      json.RawMessage // the answer as the platform wrote it
}

// Random is randomness for this request and seed (at most 1 KiB).
func Random(seed []byte) (*Randomness, error) {
	data, err := answer(random(ptr(seed), uint32(len(seed))))
	if err != nil {
		return nil, err
	}
	var raw struct {
		Output    string `json:"output"`
		Proof     string `json:"proof"`
		PublicKey string `json:"public_key"`
		Origin    string `json:"origin"`
		Seed      string `json:"seed"`
		Prover    string `json:"prover"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, err
	}
	r := &Randomness{Origin: raw.Origin, Prover: raw.Prover, JSON: data}
	for _, field := range []struct {
		text string
		to   *[]byte
	}{{raw.Output, &r.Output}, {raw.Proof, &r.Proof}, {raw.PublicKey, &r.PublicKey}, {raw.Seed, &r.Seed}} {
		if *field.to, err = hex.DecodeString(field.text); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// --- NEAR reads ---------------------------------------------------------------------------

// NearView calls a view method with args (usually JSON); the return value as the contract
// returned it (usually JSON).
func NearView(contract, method string, args []byte) ([]byte, error) {
	c, cn := str(contract)
	m, mn := str(method)
	return answer(nearView(c, cn, m, mn, ptr(args), uint32(len(args))))
}

// NearViewAccount is the account as JSON (amount, locked, code_hash, storage_usage, ...).
func NearViewAccount(account string) (json.RawMessage, error) {
	a, an := str(account)
	return answer(nearViewAccount(a, an))
}

// NearBlock is the final block's header as JSON (height, hash, timestamp, ...).
func NearBlock() (json.RawMessage, error) {
	return answer(nearBlock())
}

// --- outbound HTTPS -----------------------------------------------------------------------

// Request is an HTTPS request to a host the module declares (the outlayer.fetch section).
type Request struct {
	Method  string            `json:"method"`
	URL     string            `json:"url"`
	Headers map[string]string `json:"headers,omitempty"`
	Body    []byte            `json:"body,omitempty"` // sent as base64, as the ABI wants
}

// Response is what the remote host answered (any HTTP status).
type Response struct {
	Status  int               `json:"status"`
	URL     string            `json:"url"`
	Headers map[string]string `json:"headers"`
	Body    []byte            `json:"body"`
}

// Fetch sends the request through the platform; its refusals are errors (ErrRefused, ...).
func Fetch(request Request) (*Response, error) {
	encoded, err := json.Marshal(request)
	if err != nil {
		return nil, err
	}
	data, err := answer(fetch(ptr(encoded), uint32(len(encoded))))
	if err != nil {
		return nil, err
	}
	response := &Response{}
	return response, json.Unmarshal(data, response)
}

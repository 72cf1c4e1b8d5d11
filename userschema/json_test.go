package userschema_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/keylin/keylin/userschema"
)

// TestAppendMatchesEncodingJSON: the generated writers produce the bytes
// encoding/json would.
func TestAppendMatchesEncodingJSON(t *testing.T) {
	strs := []string{"", "plain", `quo"te\back`, "<script>&amp;</script>", "tab\tnew\nline\r\x00\x1f\x7f",
		"é 用户 🙂", "\u2028\u2029", "bad \xff utf8 \xc3", string([]byte{0xed, 0xa0, 0x80})}
	for _, s := range strs {
		want, _ := json.Marshal(s)
		if got := userschema.AppendString(nil, s); string(got) != string(want) {
			t.Errorf("AppendString(%q) = %s, want %s", s, got, want)
		}
	}
	type role string
	values := []any{nil, "x", true, false, 0, -42, int64(1 << 60), int32(7), 3.25, 1e21, role("admin"),
		time.Date(2026, 12, 2, 1, 2, 3, 456789000, time.UTC), time.Date(2026, 12, 2, 1, 2, 3, 0, time.FixedZone("x", 3600)),
		uuid.MustParse("8c7f4d00-0d8b-49cd-ae55-da44cdde2311"), []string{"a"}, map[string]int{"k": 1}}
	for _, v := range values {
		want, _ := json.Marshal(v)
		if got := userschema.AppendValue(nil, v); string(got) != string(want) {
			t.Errorf("AppendValue(%#v) = %s, want %s", v, got, want)
		}
	}
}

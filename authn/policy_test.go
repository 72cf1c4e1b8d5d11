package authn_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/keylin/keylin/authn"
)

func TestCheckPassword(t *testing.T) {
	tests := []struct {
		name       string
		password   string
		wantReason string // "" when accepted
	}{
		{"Empty", "", "Password should be at least 8 characters."},
		{"SevenASCII", "xK3!pQz", "Password should be at least 8 characters."},
		{"SevenCodePointsManyBytes", "ééééééé", "Password should be at least 8 characters."},
		{"SevenEmoji", "🔑🔑🔑🔑🔑🔑🔑", "Password should be at least 8 characters."},
		{"EightASCII", "xK3!pQz7", ""},
		{"EightTwoByteChars", "éàüößçñø", ""},
		{"EightThreeByteChars", "字字字字字字字字", ""},
		{"EightEmoji", "🔑🔑🔑🔑🔑🔑🔑🔑", ""},
		{"SixtyFourChars", strings.Repeat("aB3$", 16), ""},
		{"Exactly1024Bytes", strings.Repeat("x", 1024), ""},
		{"Exactly1024BytesMultibyte", strings.Repeat("字", 341) + "z", ""},
		{"1025Bytes", strings.Repeat("x", 1025), "Password is too long (maximum 1024 bytes)."},
		{"1025BytesMultibyte", strings.Repeat("é", 512) + "z", "Password is too long (maximum 1024 bytes)."},
		{"InvalidUTF8", "abcdefgh\xff", "Password must be valid UTF-8 text."},
		{"TruncatedUTF8", "abcdefgh\xe5\xad", "Password must be valid UTF-8 text."},
		{"Surrogate", "abcdefgh\xed\xa0\x80", "Password must be valid UTF-8 text."},
		{"CommonPassword", "password", "Password is too common."},
		{"CommonUpperCase", "PASSWORD", "Password is too common."},
		{"CommonMixedCase", "PassWord1", "Password is too common."},
		{"Common12345678", "12345678", "Password is too common."},
		{"CommonQwertyui", "QwErTyUi", "Password is too common."},
		{"CommonIloveyou", "ILoveYou", "Password is too common."},
		{"CommonChangeme", "changeme", "Password is too common."},
		{"CommonWithSpaceIsNotCommon", "password ", ""},
		{"NoCompositionRules", "aaaaaaaaaaaaaaaaaaaaa", ""},
		{"Passphrase", "correct horse battery staple", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := authn.CheckPassword(tt.password)
			if tt.wantReason == "" {
				if err != nil {
					t.Fatalf("CheckPassword = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, authn.ErrInvalidPassword) {
				t.Fatalf("CheckPassword = %v, want an error wrapping ErrInvalidPassword", err)
			}
			var ipe *authn.InvalidPasswordError
			if !errors.As(err, &ipe) {
				t.Fatalf("CheckPassword = %T, want *InvalidPasswordError", err)
			}
			if ipe.Reason != tt.wantReason {
				t.Fatalf("Reason = %q, want %q", ipe.Reason, tt.wantReason)
			}
			pwCheckNoEcho(t, tt.password, err)
		})
	}
}

// pwCheckNoEcho fails if an error shows the password it refused: its text
// must be the fixed prefix and reason, and must not contain the password
// unless the fixed sentence itself does ("password" in "Password is ...").
func pwCheckNoEcho(t *testing.T, password string, err error) {
	t.Helper()
	ipe := err.(*authn.InvalidPasswordError)
	if got, want := err.Error(), "authn: invalid password: "+ipe.Reason; got != want {
		t.Fatalf("error %q, want %q", got, want)
	}
	reason := strings.ToLower(ipe.Reason)
	if len(password) >= 4 && strings.Contains(reason, strings.ToLower(password)) &&
		!strings.HasPrefix(reason, strings.ToLower(password)) {
		t.Fatalf("reason %q contains the password", ipe.Reason)
	}
}

// TestCheckPasswordCommonList checks some blocklist entries in two letter
// cases.
func TestCheckPasswordCommonList(t *testing.T) {
	for _, pw := range []string{"password1", "qwertyuiop", "1q2w3e4r", "trustno1", "letmein123", "iloveyou"} {
		t.Run(pw, func(t *testing.T) {
			for _, variant := range []string{pw, strings.ToUpper(pw)} {
				var ipe *authn.InvalidPasswordError
				if err := authn.CheckPassword(variant); !errors.As(err, &ipe) || ipe.Reason != "Password is too common." {
					t.Fatalf("CheckPassword(%q) = %v, want too common", variant, err)
				}
			}
		})
	}
}

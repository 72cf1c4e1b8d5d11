package authn_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/keylin/keylin/authn"
)

// unsafeChars are characters python-email-validator refuses anywhere in an
// address (check_unsafe_chars), while the email specifications allow them.
var unsafeChars = []struct {
	name string
	r    rune
}{
	{"ZeroWidthSpace", '\u200B'},          // Cf
	{"ZeroWidthJoiner", '\u200D'},         // Cf
	{"RightToLeftOverride", '\u202E'},     // Cf, bidi
	{"LeftToRightOverride", '\u202D'},     // Cf, bidi
	{"SoftHyphen", '\u00AD'},              // Cf
	{"ByteOrderMark", '\uFEFF'},           // Cf
	{"IdeographicSpace", '\u3000'},        // Zs
	{"EnSpace", '\u2002'},                 // Zs
	{"FourPerEmSpace", '\u2005'},          // Zs
	{"NoBreakSpace", '\u00A0'},            // Zs
	{"LineSeparator", '\u2028'},           // Zl
	{"ParagraphSeparator", '\u2029'},      // Zp
	{"StringTerminator", '\u009C'},        // Cc
	{"PrivateUse", '\uE000'},              // Co
	{"PrivateUseLast", '\uF8FF'},          // Co
	{"SupplementaryPrivateUseA", 0xF0000}, // Co
	{"SupplementaryPrivateUseB", 0x10FFFD},
	{"Noncharacter", '\uFDEF'},    // Cn
	{"Unassigned", 0x2FFFD},       // Cn
	{"ReplacementChar", '\uFFFD'}, // keylin: what Go's decoders put for malformed input
}

func TestNormalizeEmailRefusesUnsafeCharacters(t *testing.T) {
	for _, c := range unsafeChars {
		ch := string(c.r)
		for _, tc := range []struct{ where, addr string }{
			{"Local", "a" + ch + "b@example.com"},
			{"LocalEnd", "ab" + ch + "@example.com"},
			{"Domain", "user@exa" + ch + "mple.com"},
			{"DomainLabelEnd", "user@example" + ch + ".com"},
		} {
			t.Run(tc.where+"/"+c.name, func(t *testing.T) {
				if got, err := authn.NormalizeEmail(tc.addr); !errors.Is(err, authn.ErrInvalidEmail) {
					t.Fatalf("NormalizeEmail(%+q) = %q, %v; want ErrInvalidEmail", tc.addr, got, err)
				}
			})
		}
	}
}

func TestNormalizeEmail(t *testing.T) {
	long := func(parts ...string) string { return strings.Join(parts, "") }
	r := strings.Repeat
	for _, tc := range []struct {
		name, in, want string // want "" means refused
	}{
		// Accepted, normalised.
		{"ASCII", "Abc@example.tld", "Abc@example.tld"},
		{"AllAtext", "!#$%&'*+-/=?^_`.{|}~@example.tld", "!#$%&'*+-/=?^_`.{|}~@example.tld"},
		{"PlusAndSlash", "user+mailbox/department=shipping@example.tld", "user+mailbox/department=shipping@example.tld"},
		{"DomainLowerCasedLocalKept", "Mixed.Case@EXAMPLE.COM", "Mixed.Case@example.com"},
		{"RoleMailboxLowerCased", "PostMaster@Example.com", "postmaster@example.com"},
		{"RoleMailboxInfoLowerCased", "INFO@example.com", "info@example.com"},
		{"NotARoleMailboxKept", "NOT-POSTMASTER@example.com", "NOT-POSTMASTER@example.com"},
		{"RoleMailboxPrefixKept", "Informatics@example.com", "Informatics@example.com"},
		{"SurroundingSpaceTrimmed", "  a@example.com\t", "a@example.com"},
		{"SurroundingUnicodeSpaceTrimmed", "\u3000a@example.com\u2002", "a@example.com"},
		{"HyphensInsideLabel", "test@g--a.com", "test@g--a.com"},
		{"PunycodeLikeLocal", "xn--test@iana.org", "xn--test@iana.org"},
		{"International/Chinese", "用户@例子.广告", "用户@例子.广告"},
		{"International/LatinAccents", "josé@exämple.com", "josé@exämple.com"},
		{"International/DomainLowerCased", "Jürgen@BÜCHER.Example", "Jürgen@bücher.example"},
		{"International/Traditional", "伊昭傑@郵件.商務", "伊昭傑@郵件.商務"},
		{"International/Devanagari", "राम@मोहन.ईन्फो", "राम@मोहन.ईन्फो"},
		{"International/Cyrillic", "юзер@екзампл.ком", "юзер@екзампл.ком"},
		{"International/Greek", "θσερ@εχαμπλε.ψομ", "θσερ@εχαμπλε.ψομ"},
		{"International/MixedLocal", "jeff葉@臺網中心.tw", "jeff葉@臺網中心.tw"},
		{"International/DottedLocal", "उदाहरण.परीक्ष@domain.with.idn.tld", "उदाहरण.परीक्ष@domain.with.idn.tld"},
		{"International/LongCyrillicLocal", "чебурашкаящик-с-апельсинами.рф@example.tld", "чебурашкаящик-с-апельсинами.рф@example.tld"},
		{"International/PunycodeDomainShownInUnicode", "test@xn--hxajbheg2az3al.xn--jxalpdlp", "test@παράδειγμα.δοκιμή"},
		{"International/FullWidthDomain", "a@ｅｘａｍｐｌｅ．com", "a@example.com"},
		{"International/Eszett", "a@straße.de", "a@straße.de"},
		{"International/MiddleDotBetweenLs", "a@l·l.com", "a@l·l.com"},
		{"CombiningMarkComposedByNFC", "e\u0301@example.com", "é@example.com"},
		{"CombiningMarkNotComposable", "x\u0301y@example.com", "x\u0301y@example.com"},
		{"CombiningMarkAfterDot", "a.\u0301b@example.com", "a.\u0301b@example.com"},
		{"CombiningMarkInDomain", "a@exa\u0301mple.com", "a@exámple.com"},
		{"Local64Characters", r("a", 64) + "@example.com", r("a", 64) + "@example.com"},
		{"Local64NonASCIICharacters", r("é", 64) + "@example.com", r("é", 64) + "@example.com"},
		{"Address254Bytes", long(r("a", 64), "@", r("b", 63), ".", r("c", 63), ".", r("d", 57), ".com"),
			long(r("a", 64), "@", r("b", 63), ".", r("c", 63), ".", r("d", 57), ".com")},
		{"Address254BytesNonASCII", long(r("é", 60), "@", r("b", 63), ".", r("c", 63), ".abcde"),
			long(r("é", 60), "@", r("b", 63), ".", r("c", 63), ".abcde")},

		// Refused: unsafe characters that only matter in first place.
		{"LeadingCombiningMark", "\u0301abc@example.com", ""},
		{"LeadingCombiningMarkNonASCII", "\u0301é@example.com", ""},
		{"LeadingCombiningMarkInDomain", "a@\u0301example.com", ""},
		{"CombiningMarkStartingDomainLabel", "a@example.\u0301com", ""},

		// Refused: syntax.
		{"Empty", "", ""},
		{"NoAt", "no-at.example.com", ""},
		{"TwoAts", "a@b@example.com", ""},
		{"NoLocal", "@example.com", ""},
		{"NoDomain", "a@", ""},
		{"LeadingDot", ".leadingdot@domain.com", ""},
		{"TwoDots", "twodots..here@domain.com", ""},
		{"TrailingDot", "trailingdot.@domain.email", ""},
		{"InnerSpace", "white space@example.com", ""},
		{"InnerNewline", "m\ny@example.com", ""},
		{"Backslash", `test\@test@iana.org`, ""},
		{"BadQuotes", `bad"quotes"@example.com`, ""},
		{"ObsoleteQuotedAtom", `obsolete."quoted".atom@example.com`, ""},
		{"Quoted", `"quoted"@example.com`, ""},
		{"QuotedWithSpace", `"quoted with space"@example.com`, ""},
		{"QuotedWithAt", `"quoted.with.at@"@example.com`, ""},
		{"QuotedUnicode", `"unnecessarily.quoted.with.unicode.λ"@example.com`, ""},
		{"DomainLiteralIPv4", "me@[127.0.0.1]", ""},
		{"DomainLiteralIPv6", "me@[IPv6:::1]", ""},
		{"DomainWithoutDot", "my@localhost", ""},
		{"DomainLeadingDot", "my@.leadingdot.com", ""},
		{"DomainLeadingFullWidthDot", "my@．leadingfwdot.com", ""},
		{"DomainTwoDots", "my@twodots..com", ""},
		{"DomainTwoFullWidthDots", "my@twofwdots．．.com", ""},
		{"DomainTrailingDot", "my@trailingdot.com.", ""},
		{"DomainTrailingFullWidthDot", "my@trailingfwdot.com．", ""},
		{"DomainLeadingHyphen", "me@-leadingdash.com", ""},
		{"DomainLeadingFullWidthHyphen", "me@－leadingdashfw.com", ""},
		{"DomainTrailingHyphen", "me@trailingdash-.com", ""},
		{"DomainHyphenAfterDot", "my@baddash.-a.com", ""},
		{"DomainHyphenBeforeDot", "my@baddash.b-.com", ""},
		{"DomainUnderscore", "me@x_y.com", ""},
		{"DomainBang", "me@x!.com", ""},
		{"DomainNewline", "my@example\n.com", ""},
		{"DomainSpace", "test@white space.com", ""},
		{"DomainExpandsToDot", "me@⒈wouldbeinvalid.com", ""},
		{"TLDEndsWithDigit", "me@bad.tld-2", ""},
		{"NumericTLD", "me@example.123", ""},
		{"InvalidPunycode", "me@xn--0.tld", ""},
		{"ReservedLDHLabel", "me@yy--0.tld", ""},
		{"ReservedLDHLabelFullWidth", "me@yy－－0.tld", ""},
		{"IDNA2008Symbol", "me@☃.net", ""},
		{"IDNA2008MiddleDotOutOfContext", "me@a·b.com", ""},
		{"IDNA2008KeraiaOutOfContext", "me@a͵b.com", ""},
		{"IDNA2008MixedArabicDigits", "me@\u0661\u06F1.com", ""},

		// Refused: special-use domains.
		{"SpecialUse/arpa", "me@anything.arpa", ""},
		{"SpecialUse/invalid", "me@valid.invalid", ""},
		{"SpecialUse/local", "me@link.local", ""},
		{"SpecialUse/localhost", "me@host.localhost", ""},
		{"SpecialUse/onion", "me@onion.onion.onion", ""},
		{"SpecialUse/test", "me@test.test.test", ""},
		{"SpecialUse/UpperCase", "me@printer.LOCAL", ""},

		// Refused: lengths.
		{"Local65Characters", r("a", 65) + "@example.com", ""},
		{"Local65NonASCIICharacters", r("é", 65) + "@example.com", ""},
		{"Local65CharactersDecomposed", r("e\u0301", 33) + "@example.com", ""},
		{"Address255Bytes", long(r("a", 64), "@", r("b", 63), ".", r("c", 63), ".", r("d", 58), ".com"), ""},
		{"Address255BytesNonASCII", long(r("é", 60), "@", r("b", 63), ".", r("c", 63), ".abcdef"), ""},
		{"OriginalFormOver254Bytes", long(r("e\u0301", 32), "@", r("b", 63), ".", r("c", 63), ".", r("d", 26), ".com"), ""},
		{"IDNAASCIIFormOver254Bytes", "my.long.address@λ111111111222222222233333333334444444444555555555.6666666666777777777788888888889999999999000000000.1111111111222222222233333333334444444444555555555.6666666666777777777788888888889999999999000000000.11111111112222222222333333.info", ""},
		{"UTF8FormOver254Bytes", "my.λong.address@1111111111222222222233333333334444444444555555555.6666666666777777777788888888889999999999000000000.1111111111222222222233333333334444444444555555555.6666666666777777777788888888889999999999000000000.111111111122222222223333333333444.info", ""},
		{"Domain254Bytes", "me@1111111111222222222233333333334444444444555555555.6666666666777777777788888888889999999999000000000.1111111111222222222233333333334444444444555555555.6666666666777777777788888888889999999999000000000.1111111111222222222233333333334444444444555555555566.com", ""},
		{"DomainLabel64Bytes", "test@abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghiklm.com", ""},
		{"OverColumnSize", r("a", 64) + "@" + r("b", 250) + ".com", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := authn.NormalizeEmail(tc.in)
			if tc.want == "" {
				if !errors.Is(err, authn.ErrInvalidEmail) {
					t.Fatalf("NormalizeEmail(%+q) = %q, %v; want ErrInvalidEmail", tc.in, got, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("NormalizeEmail(%+q) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
		})
	}
}

// TestNormalizeEmailIdempotent: a normalised address normalises to itself,
// so stored addresses can be checked again.
func TestNormalizeEmailIdempotent(t *testing.T) {
	for _, in := range []string{"Jürgen@BÜCHER.Example", "e\u0301@example.com", "a@ｅｘａｍｐｌｅ．com", "用户@例子.广告"} {
		once, err := authn.NormalizeEmail(in)
		if err != nil {
			t.Fatalf("%+q: %v", in, err)
		}
		if twice, err := authn.NormalizeEmail(once); err != nil || twice != once {
			t.Errorf("NormalizeEmail(%+q) = %q, %v; want %q", once, twice, err, once)
		}
	}
}

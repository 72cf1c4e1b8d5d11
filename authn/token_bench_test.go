package authn_test

import "testing"

func BenchmarkIssueAccess(b *testing.B) {
	tokens := newTokens(b, nil)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := tokens.IssueAccess(testUser, testSession); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseAccess(b *testing.B) {
	tokens := newTokens(b, nil)
	tok, _, err := tokens.IssueAccess(testUser, testSession)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tokens.ParseAccess(tok); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseAccessMiBOfDots measures the refusal of an oversized token.
func BenchmarkParseAccessMiBOfDots(b *testing.B) {
	tokens := newTokens(b, nil)
	tok := string(make([]byte, 1<<20))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tokens.ParseAccess(tok); err == nil {
			b.Fatal("accepted")
		}
	}
}

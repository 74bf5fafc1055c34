package proof

import (
	"strings"
	"testing"
)

// The commitment hash against a golden computed independently with Python's hashlib:
// sha256(b"pollab-seed-commitment/1\n" + struct.pack("<Q", 12) + b"challenge-42" +
// struct.pack("<QQQ", 1, 2, 3)).
func TestCommitSeedsGolden(t *testing.T) {
	const want = "2c36c3133690fed8b71d54299742f63a0d65b70ddf440d17753fca48808595fe"
	if got := CommitSeeds(Seeds{Init: 1, Data: 2, Augment: 3}, "challenge-42"); got != want {
		t.Fatalf("CommitSeeds = %s, want %s", got, want)
	}
	// Every seed and the nonce are bound (the nonce's length prefix keeps "ab"+seeds apart
	// from "a"+other bytes).
	base := CommitSeeds(Seeds{Init: 1, Data: 2, Augment: 3}, "n")
	for _, other := range []string{
		CommitSeeds(Seeds{Init: 9, Data: 2, Augment: 3}, "n"), CommitSeeds(Seeds{Init: 1, Data: 9, Augment: 3}, "n"),
		CommitSeeds(Seeds{Init: 1, Data: 2, Augment: 9}, "n"), CommitSeeds(Seeds{Init: 1, Data: 2, Augment: 3}, "m"),
	} {
		if other == base {
			t.Error("a changed seed or nonce gives the same commitment")
		}
	}
}

func TestSeedCommitmentForm(t *testing.T) {
	good := CommitSeeds(Seeds{}, "n")
	for _, tc := range []struct {
		c    SeedCommitment
		want string // "" valid
	}{
		{SeedCommitment{Nonce: "n", SHA256: good}, ""},
		{SeedCommitment{Nonce: "", SHA256: good}, "nonce is empty"},
		{SeedCommitment{Nonce: strings.Repeat("x", MaxNonceBytes+1), SHA256: good}, "at most 256"},
		{SeedCommitment{Nonce: "\xff", SHA256: good}, "not UTF-8"},
		{SeedCommitment{Nonce: "a\nb", SHA256: good}, "non-printable"},
		{SeedCommitment{Nonce: "n", SHA256: strings.ToUpper(good)}, "lowercase hex"},
		{SeedCommitment{Nonce: "n", SHA256: good[:63]}, "lowercase hex"},
	} {
		err := tc.c.validate()
		if (err == nil) != (tc.want == "") || err != nil && !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.c, err, tc.want)
		}
	}
}

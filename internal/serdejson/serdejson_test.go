package serdejson

import "testing"

// The expected forms are the official core's (recorded with the oracle:
// driver/testdata/powersync_diff.tsv and the synccore replay tests).
func TestRoundTrip(t *testing.T) {
	tests := []struct{ in, want string }{
		{"1", "1"}, {"-7", "-7"}, {"18446744073709551615", "18446744073709551615"},
		{"-9223372036854775808", "-9223372036854775808"},
		{"18446744073709551616", "1.8446744073709552e+19"}, {"-0", "-0.0"},
		{"1.0", "1.0"}, {"100.0", "100.0"}, {"1e20", "1e+20"}, {"1.5e-7", "1.5e-7"},
		{"123456789012345680000.0", "1.2345678901234567e+20"}, {"1e16", "1e+16"},
		{"1e15", "1000000000000000.0"}, {"0.00001", "0.00001"}, {"0.000001", "1e-6"},
		{"1e400", "null"},
	}
	for _, tt := range tests {
		if got := string(AppendNumber(nil, ParseNumber(tt.in))); got != tt.want {
			t.Errorf("%s: got %s, want %s", tt.in, got, tt.want)
		}
	}
}

func TestKindsDiffer(t *testing.T) {
	if ParseNumber("1").Equal(ParseNumber("1.0")) {
		t.Error("integer 1 equals float 1.0")
	}
	if !ParseNumber("1.0").Equal(ParseNumber("1.00")) {
		t.Error("1.0 differs from 1.00")
	}
}

func TestAppendString(t *testing.T) {
	got := string(AppendString(nil, "q\"\\\n\x01\x7fé"))
	if want := `"q\"\\\n\u0001` + "\x7fé\""; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

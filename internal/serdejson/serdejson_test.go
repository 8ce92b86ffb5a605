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
		// Follow from the rules in the doc comments of ParseNumber and AppendFloat.
		{"0", "0"}, {"-9223372036854775809", "-9.223372036854776e+18"},
		{"-1.5", "-1.5"}, {"-1e-7", "-1e-7"}, {"1E2", "100.0"}, {"1e-400", "0.0"},
	}
	for _, tt := range tests {
		if got := string(AppendNumber(nil, ParseNumber(tt.in))); got != tt.want {
			t.Errorf("%s: got %s, want %s", tt.in, got, tt.want)
		}
	}
}

func TestEqual(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		{"1", "1.0", false}, // the kinds differ
		{"1.0", "1.00", true},
		{"1", "1", true},
		{"1", "2", false},
		{"-1", "-1", true},
		{"-1", "-2", false},
		{"-1", "-1.0", false},
	}
	for _, tt := range tests {
		if got := ParseNumber(tt.a).Equal(ParseNumber(tt.b)); got != tt.want {
			t.Errorf("ParseNumber(%s).Equal(ParseNumber(%s)) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestAppendString(t *testing.T) {
	tests := []struct{ in, want string }{
		{"q\"\\\n\x01\x7fé", `"q\"\\\n\u0001` + "\x7fé\""},
		{"\b\f\r\t\x00\x1f/<", `"\b\f\r\t\u0000\u001f/<"`},
	}
	for _, tt := range tests {
		if got := string(AppendString(nil, tt.in)); got != tt.want {
			t.Errorf("AppendString(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

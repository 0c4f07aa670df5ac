package hostguard

import "testing"

func TestLoopbackHost(t *testing.T) {
	tests := []struct {
		host     string
		loopback bool
		undotted bool
	}{
		{"127.0.0.1:8081", true, true},
		{"localhost:8081", true, true},
		{"LocalHost", true, true},
		{"127.3.4.5:1", true, true},
		{"[::1]:8081", true, true},
		{"[::1]", true, true},
		{"evil.example:8081", false, false},
		{"localhost.evil.example:8081", false, false},
		{"127.0.0.1.nip.io:8081", false, false},
		{"10.0.0.1:8081", false, true},
		{"[2001:db8::1]:8081", false, true},
		{"app-self:8081", false, true},
		{"", false, false},
	}
	for _, tt := range tests {
		if got := LoopbackHost(tt.host); got != tt.loopback {
			t.Errorf("LoopbackHost(%q) = %v, want %v", tt.host, got, tt.loopback)
		}
		if got := UndottedHost(tt.host); got != tt.undotted {
			t.Errorf("UndottedHost(%q) = %v, want %v", tt.host, got, tt.undotted)
		}
	}
}

func TestLoopbackAddr(t *testing.T) {
	tests := []struct {
		addr string
		want bool
	}{
		{"127.0.0.1:0", true},
		{"127.9.9.9:80", true},
		{"[::1]:9090", true},
		{"localhost:9090", true},
		{"0.0.0.0:9090", false},
		{":9090", false},
		{"[::]:9090", false},
		{"10.1.2.3:9090", false},
		{"example.com:9090", false},
		{"127.0.0.1", false},
	}
	for _, tt := range tests {
		if got := LoopbackAddr(tt.addr); got != tt.want {
			t.Errorf("LoopbackAddr(%q) = %v, want %v", tt.addr, got, tt.want)
		}
	}
}

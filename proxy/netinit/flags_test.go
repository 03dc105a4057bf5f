package netinit

import (
	"io"
	"reflect"
	"testing"
)

func TestParseFlags(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		want    Config
		wantErr bool
	}{
		{"injector's exact line", []string{"--proxy-uid=2102", "--inbound-port=4143", "--outbound-port=4140", "--admin-port=4191",
			"--skip-inbound-ports=22,8081", "--skip-outbound-ports="},
			Config{ProxyUID: 2102, InboundPort: 4143, OutboundPort: 4140, AdminPort: 4191, SkipInboundPorts: []uint16{22, 8081}}, false},
		{"defaults from the contract", nil, Config{ProxyUID: 2102, InboundPort: 4143, OutboundPort: 4140, AdminPort: 4191}, false},
		{"bad skip port", []string{"--skip-outbound-ports=80,x"}, Config{}, true},
		{"port out of range", []string{"--inbound-port=70000"}, Config{}, true},
		{"unknown flag", []string{"--iptables"}, Config{}, true},
		{"stray argument", []string{"extra"}, Config{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseFlags(tt.args, io.Discard)
			if (err != nil) != tt.wantErr || (!tt.wantErr && !reflect.DeepEqual(got, tt.want)) {
				t.Fatalf("got %+v, %v", got, err)
			}
		})
	}
}

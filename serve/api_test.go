package serve_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

type apiError struct {
	Error struct {
		Message string  `json:"message"`
		Type    string  `json:"type"`
		Param   *string `json:"param"`
		Code    string  `json:"code"`
	} `json:"error"`
}

// TestHugeMaxTokens: a max_tokens past the context (the largest int64 a
// client can send) is clamped to the context, never a 500.
func TestHugeMaxTokens(t *testing.T) {
	srv, _ := newServer(t, "")
	for _, field := range []string{"max_tokens", "max_completion_tokens"} {
		for _, v := range []string{"9223372036854775807", "97", "1000000"} {
			for _, stream := range []bool{false, true} {
				t.Run(fmt.Sprintf("%s=%s stream=%v", field, v, stream), func(t *testing.T) {
					body := fmt.Sprintf(`{"model":"tiny","messages":[{"role":"user","content":"hi"}],"temperature":0,%q:%s,"stream":%v}`, field, v, stream)
					res, b := post(t, srv.URL, "", body)
					if res.StatusCode != 200 || bytes.Contains(b, []byte("internal_error")) {
						t.Fatalf("status %d: %s", res.StatusCode, b)
					}
				})
			}
		}
	}
}

func TestMissingModelIsBadRequest(t *testing.T) {
	srv, _ := newServer(t, "")
	for _, body := range []string{`{"messages":[{"role":"user","content":"hi"}]}`, `{"model":"","messages":[{"role":"user","content":"hi"}]}`} {
		res, b := post(t, srv.URL, "", body)
		var e apiError
		json.Unmarshal(b, &e)
		if res.StatusCode != 400 || e.Error.Type != "invalid_request_error" || e.Error.Param == nil || *e.Error.Param != "model" || e.Error.Code != "missing" {
			t.Errorf("%s: status %d, %s", body, res.StatusCode, b)
		}
	}
}

func TestRetrieveModel(t *testing.T) {
	srv, _ := newServer(t, "k3y")
	tests := []struct {
		name, path, key string
		status          int
		code            string
	}{
		{"known", "/v1/models/tiny", "k3y", 200, ""},
		{"unknown", "/v1/models/gpt-9", "k3y", 404, "model_not_found"},
		{"no key", "/v1/models/tiny", "", 401, "invalid_api_key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", srv.URL+tt.path, nil)
			if tt.key != "" {
				req.Header.Set("Authorization", "Bearer "+tt.key)
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			b, _ := io.ReadAll(res.Body)
			if res.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %s", res.StatusCode, tt.status, b)
			}
			if tt.status != 200 {
				var e apiError
				if json.Unmarshal(b, &e); e.Error.Code != tt.code {
					t.Errorf("error %s, want code %s", b, tt.code)
				}
				return
			}
			var m struct {
				ID, Object, OwnedBy string
				Created             int64
			}
			if err := json.Unmarshal(b, &m); err != nil || m.ID != "tiny" || m.Object != "model" || m.Created == 0 {
				t.Errorf("model %s: %+v, %v", b, m, err)
			}
		})
	}
}

// TestUnauthorizedBeforeBody: a client without a key that sends the headers
// of a 100 kB body and one byte of it gets its 401 at once, not after the
// server has waited for the rest.
func TestUnauthorizedBeforeBody(t *testing.T) {
	srv, _ := newServer(t, "k3y")
	conn, err := net.Dial("tcp", strings.TrimPrefix(srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{")
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no response while the body is pending: %v", err)
	}
	defer res.Body.Close()
	if res.StatusCode != 401 {
		t.Errorf("status %d, want 401", res.StatusCode)
	}
}

type logprobs struct {
	Content []struct {
		Token       string  `json:"token"`
		Logprob     float32 `json:"logprob"`
		Bytes       []int   `json:"bytes"`
		TopLogprobs []struct {
			Token   string  `json:"token"`
			Logprob float32 `json:"logprob"`
			Bytes   []int   `json:"bytes"`
		} `json:"top_logprobs"`
	} `json:"content"`
}

// TestLogprobs: each token comes with its text and bytes, and with
// top_logprobs that many alternatives, most likely first; streaming gives
// the same on the choices' last chunks.
func TestLogprobs(t *testing.T) {
	srv, _ := newServer(t, "")
	tests := []struct {
		name string
		top  int
	}{
		{"logprobs only", 0},
		{"top 2", 2},
		{"top 20", 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := fmt.Sprintf(`{"model":"tiny","messages":[{"role":"user","content":"what is 1+1?"}],"n":2,"temperature":0.8,"seed":3,"max_tokens":8,"logprobs":true,"top_logprobs":%d`, tt.top)
			res, b := post(t, srv.URL, "", body+"}")
			if res.StatusCode != 200 {
				t.Fatalf("status %d: %s", res.StatusCode, b)
			}
			var c struct {
				Choices []struct {
					Message  struct{ Content string }
					Logprobs *logprobs `json:"logprobs"`
				}
			}
			if err := json.Unmarshal(b, &c); err != nil {
				t.Fatal(err)
			}
			for i, ch := range c.Choices {
				if ch.Logprobs == nil {
					t.Fatalf("choice %d has no logprobs: %s", i, b)
				}
				var joined strings.Builder
				for _, tok := range ch.Logprobs.Content {
					joined.WriteString(tok.Token)
					if tok.Token == "" || len(tok.Bytes) != len(tok.Token) || tok.Logprob > 0 {
						t.Errorf("choice %d: token %+v", i, tok)
					}
					if len(tok.TopLogprobs) != tt.top {
						t.Errorf("choice %d: %d alternatives, want %d", i, len(tok.TopLogprobs), tt.top)
					}
					for j, a := range tok.TopLogprobs {
						if a.Token == "" || (j > 0 && a.Logprob > tok.TopLogprobs[j-1].Logprob) {
							t.Errorf("choice %d: alternatives %+v", i, tok.TopLogprobs)
						}
						if a.Token == tok.Token && a.Logprob != tok.Logprob {
							t.Errorf("choice %d: token %q at %g, as alternative at %g", i, tok.Token, tok.Logprob, a.Logprob)
						}
					}
				}
				if joined.String() != ch.Message.Content {
					t.Errorf("choice %d: tokens %q, content %q", i, joined.String(), ch.Message.Content)
				}
			}

			// Streamed: the logprobs over all chunks equal the non-streamed ones.
			res, sb := post(t, srv.URL, "", body+`,"stream":true}`)
			if res.StatusCode != 200 {
				t.Fatalf("stream status %d: %s", res.StatusCode, sb)
			}
			streamed := map[int]*logprobs{}
			sc := bufio.NewScanner(bytes.NewReader(sb))
			for sc.Scan() {
				line, ok := strings.CutPrefix(sc.Text(), "data: ")
				if !ok || line == "[DONE]" {
					continue
				}
				var chunk struct {
					Choices []struct {
						Index    int       `json:"index"`
						Logprobs *logprobs `json:"logprobs"`
					}
				}
				if err := json.Unmarshal([]byte(line), &chunk); err != nil {
					t.Fatal(err)
				}
				for _, x := range chunk.Choices {
					if x.Logprobs == nil {
						continue
					}
					if streamed[x.Index] == nil {
						streamed[x.Index] = &logprobs{}
					}
					streamed[x.Index].Content = append(streamed[x.Index].Content, x.Logprobs.Content...)
				}
			}
			for i, ch := range c.Choices {
				want, _ := json.Marshal(ch.Logprobs)
				got, _ := json.Marshal(streamed[i])
				if !bytes.Equal(got, want) {
					t.Errorf("choice %d: streamed logprobs %s, want %s", i, got, want)
				}
			}
		})
	}
}

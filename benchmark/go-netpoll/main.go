// Echo server on github.com/cloudwego/netpoll, the third column of `npm run bench`.
// Same command line and protocol as examples/echo-server.js:
//
//	go-netpoll-echo --listen tcp://127.0.0.1:0|unix://PATH --protocol framed|raw|sink
//
// It prints one line `listening <address>` when ready; SIGUSR2 prints one line
// `stats {"rss":…,"heapUsed":…}` (Go heap in use after a GC); SIGTERM/SIGINT stop it.
package main

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/cloudwego/netpoll"
)

var errFrameTooLarge = errors.New("frame too large")

func main() {
	listen := flag.String("listen", "tcp://127.0.0.1:7002", "tcp://HOST:PORT or unix://PATH")
	protocol := flag.String("protocol", "framed", "framed (4-byte big-endian length + payload), raw or sink")
	maxFrame := flag.Int("max-frame", 16<<20, "largest frame accepted")
	flag.Parse()
	network, address, ok := strings.Cut(*listen, "://")
	if !ok || (network != "tcp" && network != "tcp4" && network != "tcp6" && network != "unix") {
		fmt.Fprintln(os.Stderr, "--listen is tcp://HOST:PORT or unix://PATH")
		os.Exit(2)
	}
	if network == "unix" {
		_ = os.Remove(address)
	}
	ln, err := netpoll.CreateListener(network, address)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	handler := framed(*maxFrame)
	var opts []netpoll.Option
	switch *protocol {
	case "raw":
		handler = raw
	case "sink":
		handler = sink
		opts = append(opts, netpoll.WithOnPrepare(func(conn netpoll.Connection) context.Context {
			return context.WithValue(context.Background(), sinkKey{}, new(uint64))
		}))
	}
	loop, err := netpoll.NewEventLoop(handler, opts...)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("listening %s\n", ln.Addr().String())
	go signals(loop)
	if err := loop.Serve(ln); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// framed reads one whole frame and answers with a separately built buffer
// (netpoll-benchmark's rule); netpoll calls it again while input remains.
func framed(maxFrame int) netpoll.OnRequest {
	return func(_ context.Context, conn netpoll.Connection) error {
		r := conn.Reader()
		head, err := r.Next(4)
		if err != nil {
			return err
		}
		n := int(binary.BigEndian.Uint32(head))
		if n > maxFrame {
			conn.Close()
			return errFrameTooLarge
		}
		payload, err := r.Next(n)
		if err != nil {
			return err
		}
		out := make([]byte, 4+n)
		binary.BigEndian.PutUint32(out, uint32(n))
		copy(out[4:], payload)
		if err := r.Release(); err != nil {
			return err
		}
		w := conn.Writer()
		if _, err := w.WriteBinary(out); err != nil {
			return err
		}
		return w.Flush()
	}
}

func raw(_ context.Context, conn netpoll.Connection) error {
	r := conn.Reader()
	buf, err := r.ReadBinary(r.Len())
	if err != nil {
		return err
	}
	w := conn.Writer()
	if _, err := w.WriteBinary(buf); err != nil {
		return err
	}
	return w.Flush()
}

// sinkAck: the sink answers its count each time it crosses a multiple of this many bytes.
const sinkAck = 1 << 20

type sinkKey struct{}

// sink drops every byte and counts them, answering the count (8 bytes, big-endian) each time
// it crosses a multiple of sinkAck.
func sink(ctx context.Context, conn netpoll.Connection) error {
	r := conn.Reader()
	n := r.Len()
	if err := r.Skip(n); err != nil {
		return err
	}
	if err := r.Release(); err != nil {
		return err
	}
	count := ctx.Value(sinkKey{}).(*uint64)
	before := *count
	*count += uint64(n)
	if before/sinkAck == *count/sinkAck {
		return nil
	}
	w := conn.Writer()
	out, err := w.Malloc(8)
	if err != nil {
		return err
	}
	binary.BigEndian.PutUint64(out, *count)
	return w.Flush()
}

func signals(loop netpoll.EventLoop) {
	ch := make(chan os.Signal, 4)
	signal.Notify(ch, syscall.SIGUSR2, syscall.SIGTERM, syscall.SIGINT)
	for s := range ch {
		if s != syscall.SIGUSR2 {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_ = loop.Shutdown(ctx)
			cancel()
			os.Exit(0)
		}
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		line, _ := json.Marshal(map[string]uint64{"heapUsed": m.HeapAlloc, "heapTotal": m.HeapSys, "sys": m.Sys})
		fmt.Printf("stats %s\n", line)
	}
}

// Command peerbench is the load generator of benchmarks/peers.py: one measurement per
// run, printed as one line of JSON. It speaks to RabbitMQ, NATS and Herald (HTTP and
// WebSocket) from Go so that the client is not what is measured.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/nats-io/nats.go"
	amqp "github.com/rabbitmq/amqp091-go"
)

const project = "peer-bench"
const clientID = "3f0b1a52-56b5-4d6a-9f0e-00000000beef"

var (
	mode     = flag.String("mode", "", "rpc-amqp, rpc-nats, rpc-http, rpc-ws, consume-amqp, consume-jetstream, consume-ws")
	target   = flag.String("url", "", "the server: amqp://, nats://, http:// or ws://")
	count    = flag.Int("n", 2000, "round trips (rpc), or messages to prefill (consume)")
	warmup   = flag.Int("warmup", 200, "round trips before the timed ones (rpc)")
	workers  = flag.Int("c", 32, "consumers (consume)")
	prefetch = flag.Int("prefetch", 10, "RabbitMQ prefetch, and Herald's claim limit (consume)")
	queues   = flag.Int("queues", 4, "queues the consumers share (consume)")
	duration = flag.Duration("d", 5*time.Second, "how long the consumers run (consume)")
	size     = flag.Int("size", 200, "message body bytes (consume)")
)

func main() {
	flag.Parse()
	var result map[string]any
	switch *mode {
	case "rpc-amqp":
		result = latencies(rpcAMQP())
	case "rpc-nats":
		result = latencies(rpcNATS())
	case "rpc-http":
		result = latencies(rpcHTTP())
	case "rpc-ws":
		result = latencies(rpcWS())
	case "consume-amqp":
		result = consumeAMQP()
	case "consume-ws":
		result = consumeWS()
	case "consume-jetstream":
		result = consumeJetStream()
	default:
		fail(fmt.Errorf("unknown -mode %q", *mode))
	}
	out, _ := json.Marshal(result)
	fmt.Println(string(out))
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "peerbench:", err)
	os.Exit(1)
}

func check(err error) {
	if err != nil {
		fail(err)
	}
}

// timed runs trip warmup+count times and returns the durations of the last count; the
// function trip returns, if any, runs after each trip outside the timing.
func timed(trip func(n int) func()) []time.Duration {
	for n := 0; n < *warmup; n++ {
		if after := trip(n); after != nil {
			after()
		}
	}
	took := make([]time.Duration, *count)
	for n := range took {
		began := time.Now()
		after := trip(n)
		took[n] = time.Since(began)
		if after != nil {
			after()
		}
	}
	return took
}

func latencies(took []time.Duration) map[string]any {
	sort.Slice(took, func(i, j int) bool { return took[i] < took[j] })
	ms := func(share float64) float64 {
		i := int(share * float64(len(took)))
		if i >= len(took) {
			i = len(took) - 1
		}
		return float64(took[i].Microseconds()) / 1000
	}
	return map[string]any{"n": len(took), "p50_ms": ms(0.5), "p99_ms": ms(0.99), "max_ms": ms(1)}
}

// RabbitMQ: the responder consumes a request queue and publishes to each request's
// reply-to; the requester uses direct reply-to, which needs no queue of its own.
func rpcAMQP() []time.Duration {
	server, err := amqp.Dial(*target)
	check(err)
	defer server.Close()
	serving, err := server.Channel()
	check(err)
	q, err := serving.QueueDeclare("", false, true, true, false, nil)
	check(err)
	requests, err := serving.Consume(q.Name, "", true, true, false, false, nil)
	check(err)
	go func() {
		for d := range requests {
			_ = serving.Publish("", d.ReplyTo, false, false, amqp.Publishing{CorrelationId: d.CorrelationId, Body: d.Body})
		}
	}()
	client, err := amqp.Dial(*target)
	check(err)
	defer client.Close()
	asking, err := client.Channel()
	check(err)
	replies, err := asking.Consume("amq.rabbitmq.reply-to", "", true, true, false, false, nil)
	check(err)
	return timed(func(n int) func() {
		id := fmt.Sprint(n)
		check(asking.Publish("", q.Name, false, false, amqp.Publishing{ReplyTo: "amq.rabbitmq.reply-to", CorrelationId: id, Body: []byte(id)}))
		for reply := range replies {
			if reply.CorrelationId == id {
				return nil
			}
		}
		fail(fmt.Errorf("reply channel closed"))
		return nil
	})
}

// NATS core request-reply: the responder and the requester on connections of their own.
func rpcNATS() []time.Duration {
	server, err := nats.Connect(*target)
	check(err)
	defer server.Close()
	_, err = server.Subscribe("peer-bench.rpc", func(m *nats.Msg) { _ = m.Respond(m.Data) })
	check(err)
	check(server.Flush())
	client, err := nats.Connect(*target)
	check(err)
	defer client.Close()
	return timed(func(n int) func() {
		_, err := client.Request("peer-bench.rpc", []byte(fmt.Sprint(n)), 5*time.Second)
		check(err)
		return nil
	})
}

// Herald over HTTP: the responder long-polls the request queue with a claim, posts the
// answer to the reply queue and deletes the request; the requester posts and long-polls
// the reply queue, and deletes the reply once timed.
type heraldHTTP struct {
	base   string
	client *http.Client
}

func newHeraldHTTP() *heraldHTTP {
	return newHeraldAt(*target)
}

// newHeraldAt keeps idle connections for less than the server's keep-alive timeout
// (5 s), so that a request is never sent on a connection the server is closing.
func newHeraldAt(base string) *heraldHTTP {
	transport := &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true, IdleConnTimeout: 2 * time.Second}
	return &heraldHTTP{strings.TrimRight(base, "/"), &http.Client{Transport: transport}}
}

func (h *heraldHTTP) call(method, path string, body []byte) (int, []byte) {
	var reader io.Reader = http.NoBody
	if body != nil {
		reader = bytes.NewReader(body)
	}
	request, err := http.NewRequest(method, h.base+path, reader)
	check(err)
	request.Header.Set("Client-ID", clientID)
	request.Header.Set("X-Project-ID", project)
	request.Header.Set("Content-Type", "application/json")
	answer, err := h.client.Do(request)
	check(err)
	defer answer.Body.Close()
	data, err := io.ReadAll(answer.Body)
	check(err)
	return answer.StatusCode, data
}

type claimed struct {
	ClaimID  string `json:"claim_id"`
	Messages []struct {
		ID   string          `json:"id"`
		Href string          `json:"href"`
		Body json.RawMessage `json:"body"`
	} `json:"messages"`
}

func postBody(body json.RawMessage) []byte {
	out, _ := json.Marshal(map[string]any{"messages": []any{map[string]any{"ttl": 300, "body": body}}})
	return out
}

var claimBody = []byte(`{"ttl": 60, "grace": 60}`)

func (h *heraldHTTP) take(queue string) claimed {
	for {
		status, data := h.call("POST", "/v2/queues/"+queue+"/claims?wait=20&limit=1", claimBody)
		if status == 201 {
			var c claimed
			check(json.Unmarshal(data, &c))
			return c
		}
		if status != 204 {
			fail(fmt.Errorf("claim: %d %s", status, data))
		}
	}
}

func rpcHTTP() []time.Duration {
	worker, asker := newHeraldHTTP(), newHeraldHTTP()
	go func() {
		for {
			c := worker.take("rpc-req")
			worker.call("POST", "/v2/queues/rpc-rep/messages", postBody(c.Messages[0].Body))
			worker.call("DELETE", c.Messages[0].Href, nil)
		}
	}()

	return timed(func(n int) func() {
		if status, data := asker.call("POST", "/v2/queues/rpc-req/messages", postBody(json.RawMessage(fmt.Sprint(n)))); status != 201 {
			fail(fmt.Errorf("post: %d %s", status, data))
		}
		for {
			m := asker.take("rpc-rep").Messages[0]
			if string(m.Body) == fmt.Sprint(n) {
				return func() { asker.call("DELETE", m.Href, nil) }
			}
			asker.call("DELETE", m.Href, nil) // a late answer to an earlier run's request
		}
	})
}

// Herald over WebSocket: one socket per role, frames answered in order.
type socket struct{ conn *websocket.Conn }

type reply struct {
	Body    json.RawMessage `json:"body"`
	Headers struct {
		Status int `json:"status"`
	} `json:"headers"`
}

var frameHeaders = map[string]string{"Client-ID": clientID, "X-Project-ID": project}

func dialWS() *socket {
	conn, _, err := websocket.DefaultDialer.Dial(*target, nil)
	check(err)
	return &socket{conn}
}

func (s *socket) send(action string, body any) {
	check(s.conn.WriteJSON(map[string]any{"action": action, "headers": frameHeaders, "body": body}))
}

func (s *socket) receive() reply {
	var r reply
	check(s.conn.ReadJSON(&r))
	return r
}

func (s *socket) call(action string, body any) reply {
	s.send(action, body)
	return s.receive()
}

// take claims up to limit messages of queue, waiting for them when wait is set.
func (s *socket) take(queue string, limit int, wait float64) claimed {
	for {
		r := s.call("claim_create", map[string]any{"queue_name": queue, "limit": limit, "ttl": 60, "grace": 60, "wait": wait})
		var c claimed
		if r.Headers.Status == 201 {
			check(json.Unmarshal(r.Body, &c))
			return c
		}
		if r.Headers.Status != 204 {
			fail(fmt.Errorf("claim_create: %d %s", r.Headers.Status, r.Body))
		}
		if wait == 0 {
			return c
		}
	}
}

func messagesOf(body json.RawMessage) []any {
	return []any{map[string]any{"ttl": 300, "body": body}}
}

func rpcWS() []time.Duration {
	worker, asker := dialWS(), dialWS()
	go func() {
		for {
			c := worker.take("rpc-req", 1, 20)
			worker.call("message_post", map[string]any{"queue_name": "rpc-rep", "messages": messagesOf(c.Messages[0].Body)})
			worker.call("message_delete", map[string]any{"queue_name": "rpc-req", "message_id": c.Messages[0].ID, "claim_id": c.ClaimID})
		}
	}()
	return timed(func(n int) func() {
		if r := asker.call("message_post", map[string]any{"queue_name": "rpc-req", "messages": messagesOf(json.RawMessage(fmt.Sprint(n)))}); r.Headers.Status != 201 {
			fail(fmt.Errorf("message_post: %d %s", r.Headers.Status, r.Body))
		}
		for {
			c := asker.take("rpc-rep", 1, 20)
			forget := func() {
				asker.call("message_delete", map[string]any{"queue_name": "rpc-rep", "message_id": c.Messages[0].ID, "claim_id": c.ClaimID})
			}
			if string(c.Messages[0].Body) == fmt.Sprint(n) {
				return forget
			}
			forget() // a late answer to an earlier run's request
		}
	})
}

func payload() []byte {
	return []byte(`{"pad": "` + strings.Repeat("x", *size-11) + `"}`)
}

func queueName(i int) string { return fmt.Sprintf("peer-bench-%d", i) }

// consumed runs the consumers for the duration and counts what they acknowledged in it;
// a consumer that finds its queue empty reports it, since the rate then means nothing.
func consumed(run func(queue string, stop <-chan struct{}, done *atomic.Int64, dry *atomic.Bool)) map[string]any {
	stop := make(chan struct{})
	var done atomic.Int64
	var dry atomic.Bool
	var group sync.WaitGroup
	for i := 0; i < *workers; i++ {
		group.Add(1)
		go func(q string) {
			defer group.Done()
			run(q, stop, &done, &dry)
		}(queueName(i % *queues))
	}
	time.Sleep(*duration)
	acked := done.Load()
	close(stop)
	group.Wait()
	return map[string]any{"messages": acked, "seconds": duration.Seconds(), "per_second": float64(acked) / duration.Seconds(), "dry": dry.Load()}
}

func stopped(stop <-chan struct{}) bool {
	select {
	case <-stop:
		return true
	default:
		return false
	}
}

// RabbitMQ quorum queues: prefilled with persistent messages under publisher confirms,
// then 32 consumers with manual acks, one ack per message, and a prefetch.
func consumeAMQP() map[string]any {
	conn, err := amqp.Dial(*target)
	check(err)
	defer conn.Close()
	admin, err := conn.Channel()
	check(err)
	for i := 0; i < *queues; i++ {
		_, _ = admin.QueueDelete(queueName(i), false, false, false)
		_, err := admin.QueueDeclare(queueName(i), true, false, false, false, amqp.Table{"x-queue-type": "quorum"})
		check(err)
	}
	var filling sync.WaitGroup
	for i := 0; i < *queues; i++ {
		filling.Add(1)
		go func(q string) {
			defer filling.Done()
			ch, err := conn.Channel()
			check(err)
			check(ch.Confirm(false))
			confirms := ch.NotifyPublish(make(chan amqp.Confirmation, 1000))
			for sent := 0; sent < *count / *queues; sent += 500 {
				for k := 0; k < 500; k++ {
					check(ch.Publish("", q, false, false, amqp.Publishing{DeliveryMode: amqp.Persistent, Body: payload()}))
				}
				for k := 0; k < 500; k++ {
					if c := <-confirms; !c.Ack {
						fail(fmt.Errorf("publish not confirmed"))
					}
				}
			}
			ch.Close()
		}(queueName(i))
	}
	filling.Wait()
	result := consumed(func(q string, stop <-chan struct{}, done *atomic.Int64, dry *atomic.Bool) {
		ch, err := conn.Channel()
		check(err)
		defer ch.Close()
		check(ch.Qos(*prefetch, 0, false))
		deliveries, err := ch.Consume(q, "", false, false, false, false, nil)
		check(err)
		for {
			select {
			case <-stop:
				return
			case d := <-deliveries:
				check(d.Ack(false))
				done.Add(1)
			case <-time.After(time.Second):
				dry.Store(true)
				return
			}
		}
	})
	for i := 0; i < *queues; i++ {
		_, _ = admin.QueueDelete(queueName(i), false, false, false)
	}
	return result
}

// Herald over WebSocket: each consumer claims up to 10 and deletes them with one
// message_delete_many naming their ids and the claim.
func consumeWS() map[string]any {
	base := strings.Replace(strings.Replace(*target, "ws://", "http://", 1), "wss://", "https://", 1)
	filler := newHeraldAt(base)
	batch := make([]any, 10)
	for i := range batch {
		batch[i] = map[string]any{"ttl": 3600, "body": json.RawMessage(payload())}
	}
	ten, _ := json.Marshal(map[string]any{"messages": batch})
	var filling sync.WaitGroup
	for i := 0; i < *queues; i++ {
		filler.call("DELETE", "/v2/queues/"+queueName(i), nil)
		for p := 0; p < 4; p++ {
			filling.Add(1)
			go func(q string) {
				defer filling.Done()
				for sent := 0; sent < *count / *queues / 4; sent += 10 {
					if status, data := filler.call("POST", "/v2/queues/"+q+"/messages", ten); status != 201 {
						fail(fmt.Errorf("prefill: %d %s", status, data))
					}
				}
			}(queueName(i))
		}
	}
	filling.Wait()
	result := consumed(func(q string, stop <-chan struct{}, done *atomic.Int64, dry *atomic.Bool) {
		s := dialWS()
		defer s.conn.Close()
		for !stopped(stop) {
			c := s.take(q, *prefetch, 0)
			if len(c.Messages) == 0 {
				dry.Store(true)
				return
			}
			ids := make([]string, len(c.Messages))
			for i, m := range c.Messages {
				ids[i] = m.ID
			}
			r := s.call("message_delete_many", map[string]any{"queue_name": q, "message_ids": ids, "claim_ids": []string{c.ClaimID}})
			if r.Headers.Status != 204 {
				fail(fmt.Errorf("message_delete_many: %d %s", r.Headers.Status, r.Body))
			}
			done.Add(int64(len(ids)))
		}
	})
	for i := 0; i < *queues; i++ {
		filler.call("DELETE", "/v2/queues/"+queueName(i), nil)
	}
	return result
}

// JetStream: a file-backed stream per queue, prefilled with acknowledged publishes;
// each queue's consumers share one durable pull consumer, fetch 10 and ack each.
// prefilled returns once every publish so far is acknowledged.
func prefilled(js nats.JetStreamContext) {
	select {
	case <-js.PublishAsyncComplete():
	case <-time.After(time.Minute):
		fail(fmt.Errorf("prefill not acknowledged within a minute"))
	}
}

func consumeJetStream() map[string]any {
	nc, err := nats.Connect(*target)
	check(err)
	defer nc.Close()
	js, err := nc.JetStream(nats.PublishAsyncMaxPending(1000))
	check(err)
	for i := 0; i < *queues; i++ {
		_ = js.DeleteStream(queueName(i))
		_, err := js.AddStream(&nats.StreamConfig{Name: queueName(i), Subjects: []string{queueName(i)}, Storage: nats.FileStorage})
		check(err)
		for sent := 0; sent < *count / *queues; sent++ {
			_, err := js.PublishAsync(queueName(i), payload())
			check(err)
			// In steps of 500, as the RabbitMQ prefill: past 1000 unacknowledged
			// publishes the client gives up after a short stall, which a loaded host sees.
			if sent%500 == 499 {
				prefilled(js)
			}
		}
	}
	prefilled(js)
	result := consumed(func(q string, stop <-chan struct{}, done *atomic.Int64, dry *atomic.Bool) {
		sub, err := js.PullSubscribe(q, "peer-bench", nats.BindStream(q))
		check(err)
		for !stopped(stop) {
			batch, err := sub.Fetch(*prefetch, nats.MaxWait(time.Second))
			if err == nats.ErrTimeout || len(batch) == 0 {
				dry.Store(true)
				return
			}
			check(err)
			for _, m := range batch {
				check(m.Ack())
				done.Add(1)
			}
		}
	})
	for i := 0; i < *queues; i++ {
		_ = js.DeleteStream(queueName(i))
	}
	return result
}

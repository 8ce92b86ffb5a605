package hooks

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"
)

func TestListenerMergesAndFilters(t *testing.T) {
	hub := newFakeHub()
	ctx := t.Context()
	l, err := Watcher{Throttle: -1}.listenWith(ctx, nil, []string{"todos", "lists"}, hub.subscribe)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()

	// Two commits before anyone reads merge into one notification.
	hub.publish("ps_data__todos", "ps_crud")
	hub.publish("ps_data__lists", "ps_oplog")
	c, err := l.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"lists", "todos"}; !slices.Equal(c.Tables, want) {
		t.Fatalf("Tables = %q, want %q", c.Tables, want)
	}

	// A commit touching only other tables is not reported.
	hub.publish("ps_data__other", "ps_crud")
	hub.publish("ps_data__todos")
	c, err = l.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"todos"}; !slices.Equal(c.Tables, want) {
		t.Fatalf("Tables = %q, want %q", c.Tables, want)
	}
}

func TestListenerThrottle(t *testing.T) {
	hub := newFakeHub()
	clk := newFakeClock()
	ctx := t.Context()
	l, err := Watcher{}.listenWith(ctx, nil, nil, hub.subscribe)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	l.clock = clk

	// The first change is reported at once.
	hub.publish("ps_data__a")
	if c, err := l.Next(ctx); err != nil || !slices.Equal(c.Tables, []string{"a"}) {
		t.Fatalf("Next = %v, %v", c, err)
	}

	// The next one waits out the throttle, and what commits meanwhile joins it.
	clk.advance(10 * time.Millisecond)
	hub.publish("ps_data__b")
	type next struct {
		c   Change
		err error
	}
	got := make(chan next, 1)
	go func() {
		c, err := l.Next(ctx)
		got <- next{c, err}
	}()
	tm := <-clk.timers
	if want := DefaultThrottle - 10*time.Millisecond; tm.d != want {
		t.Errorf("throttle wait = %v, want %v", tm.d, want)
	}
	hub.publish("ps_data__c")
	clk.advance(tm.d)
	tm.fire <- clk.now()
	n := <-got
	if n.err != nil || !slices.Equal(n.c.Tables, []string{"b", "c"}) {
		t.Fatalf("Next = %v, %v; want [b c]", n.c, n.err)
	}

	// After a quiet period longer than the throttle, no wait.
	clk.advance(time.Hour)
	hub.publish("ps_data__d")
	if c, err := l.Next(ctx); err != nil || !slices.Equal(c.Tables, []string{"d"}) {
		t.Fatalf("Next = %v, %v", c, err)
	}
	select {
	case tm := <-clk.timers:
		t.Fatalf("unexpected throttle wait %v", tm.d)
	default:
	}
}

func TestListenerEnds(t *testing.T) {
	t.Run("context", func(t *testing.T) {
		hub := newFakeHub()
		ctx, cancel := context.WithCancel(t.Context())
		l, err := Watcher{}.listenWith(ctx, nil, nil, hub.subscribe)
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		cancel()
		if _, err := l.Next(ctx); !errors.Is(err, context.Canceled) {
			t.Fatalf("Next after cancel = %v, want context.Canceled", err)
		}
	})
	t.Run("close", func(t *testing.T) {
		hub := newFakeHub()
		l, err := Watcher{}.listenWith(t.Context(), nil, nil, hub.subscribe)
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() {
			_, err := l.Next(t.Context())
			done <- err
		}()
		l.Close()
		l.Close() // idempotent
		if err := <-done; !errors.Is(err, ErrClosed) {
			t.Fatalf("Next after Close = %v, want ErrClosed", err)
		}
		if n := hub.count(); n != 0 {
			t.Fatalf("%d subscriptions left after Close", n)
		}
	})
}

func TestOnChangeIterator(t *testing.T) {
	hub := newFakeHub()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	seq := Watcher{Throttle: -1}.onChangeWith(ctx, nil, []string{"todos"}, hub.subscribe)
	go func() {
		for hub.count() == 0 {
			time.Sleep(time.Millisecond)
		}
		hub.publish("ps_data__todos")
	}()
	var got [][]string
	for c, err := range seq {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, c.Tables)
		if len(got) == 1 {
			hub.publish("ps_data__lists")
			hub.publish("ps_data__todos", "ps_crud")
			continue
		}
		cancel()
	}
	want := [][]string{{"todos"}, {"todos"}}
	if !slices.EqualFunc(got, want, slices.Equal) {
		t.Fatalf("changes = %q, want %q", got, want)
	}
	if hub.count() != 0 {
		t.Fatal("subscription left after the range ended")
	}
}

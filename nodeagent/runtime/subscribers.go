package runtime

import "sync"

// Subscribers keeps the subscribers of a runtime's container events: the part of Subscribe every
// runtime shares. The zero value is ready to use.
type Subscribers struct {
	mu   sync.Mutex
	fns  map[uint64]func(ContainerEvent)
	next uint64
}

// Subscribe adds fn until cancel is called.
func (s *Subscribers) Subscribe(fn func(ContainerEvent)) (cancel func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fns == nil {
		s.fns = map[uint64]func(ContainerEvent){}
	}
	id := s.next
	s.next++
	s.fns[id] = fn
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		delete(s.fns, id)
	}
}

// Publish calls every subscriber with each event, outside the lock.
func (s *Subscribers) Publish(events ...ContainerEvent) {
	if len(events) == 0 {
		return
	}
	s.mu.Lock()
	fns := make([]func(ContainerEvent), 0, len(s.fns))
	for _, fn := range s.fns {
		fns = append(fns, fn)
	}
	s.mu.Unlock()
	for _, ev := range events {
		for _, fn := range fns {
			fn(ev)
		}
	}
}

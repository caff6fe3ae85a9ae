package reliability

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/url"
	"sync"
	"time"
)

// KillResult is what the kill -9 cycles saw.
type KillResult struct {
	Cycles, Requests, FiveXX int
	Acked, Found             map[string]int // by kind: document, ticket, proposal, approval
	Lost                     []string       // acknowledged writes missing after a restart
}

// ack is a write the server acknowledged with a 2xx.
type ack struct{ kind, id string }

// KillCycles drives concurrent writes, SIGKILLs s at a random moment,
// restarts it and checks that every acknowledged write is stored.
func KillCycles(ctx context.Context, s *Server, cycles int, rng *rand.Rand, logf func(string, ...any)) (KillResult, error) {
	res := KillResult{Acked: map[string]int{}, Found: map[string]int{}}
	if err := s.Start(ctx); err != nil {
		return res, err
	}
	keys := map[string]string{}
	for _, k := range [][3]string{{"dev", "developer", "internal"}, {"hot", "hotline", "internal"}, {"supA", "supervisor", "internal"}, {"supB", "supervisor", "internal"}} {
		secret, err := s.CreateKey(ctx, "rel-"+k[0], k[1], k[2])
		if err != nil {
			s.Kill()
			return res, err
		}
		keys[k[0]] = secret
	}
	const coll = "rel-kill"
	if r, err := s.JSON(ctx, "POST", "/v1/collections", keys["dev"], map[string]string{"name": coll}, nil, nil); err != nil || r.Status/100 != 2 {
		s.Kill()
		return res, fmt.Errorf("create collection: %v %d %s", err, r.Status, r.Body)
	}
	var mu sync.Mutex
	var acked []ack
	record := func(a ack) { mu.Lock(); acked = append(acked, a); mu.Unlock() }
	count := func(status int) {
		mu.Lock()
		res.Requests++
		if status >= 500 {
			res.FiveXX++
		}
		mu.Unlock()
	}
	for cycle := 1; cycle <= cycles; cycle++ {
		acked = acked[:0]
		wctx, stop := context.WithCancel(ctx)
		proposals := make(chan string, 256)
		var wg sync.WaitGroup
		writer := func(fn func(i int)) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; wctx.Err() == nil; i++ {
					fn(i)
				}
			}()
		}
		for w := range 2 {
			writer(func(i int) { // documents
				id := fmt.Sprintf("c%d-w%d-d%d", cycle, w, i)
				doc := map[string]any{"documents": []any{map[string]any{"id": id, "title": "Kill test " + id, "text": "Road works on Zhongshan Road, document " + id + "."}}}
				r, err := s.JSON(wctx, "POST", "/v1/collections/"+coll+"/documents", keys["dev"], doc, nil, nil)
				if err == nil {
					count(r.Status)
					if r.Status/100 == 2 {
						record(ack{"document", id})
					}
				}
			})
			writer(func(i int) { // tickets
				var t struct {
					ID string `json:"ticket_id"`
				}
				r, err := s.JSON(wctx, "POST", "/v1/hotline/tickets", keys["hot"], map[string]any{"text": fmt.Sprintf("小区路灯坏了 %d-%d-%d", cycle, w, i), "channel": "phone"},
					&t, map[string]string{"Idempotency-Key": fmt.Sprintf("rel-%d-%d-%d-%d", time.Now().UnixNano(), cycle, w, i)})
				if err == nil {
					count(r.Status)
					if r.Status/100 == 2 && t.ID != "" {
						record(ack{"ticket", t.ID})
					}
				}
			})
		}
		writer(func(int) { // proposals, through a chat turn to an agent that proposes
			var out struct {
				Proposals []struct {
					ID string `json:"id"`
				} `json:"proposals"`
			}
			r, err := s.JSON(wctx, "POST", "/v1/agents/traffic/chat", keys["supA"], map[string]any{"message": "The Renmin Road corridor is congested — retime the signals."}, &out, nil)
			if err == nil {
				count(r.Status)
				if r.Status/100 == 2 {
					for _, p := range out.Proposals {
						record(ack{"proposal", p.ID})
						select {
						case proposals <- p.ID:
						default:
						}
					}
				}
			}
		})
		wg.Add(1)
		go func() { // approvals by a second supervisor
			defer wg.Done()
			for {
				select {
				case <-wctx.Done():
					return
				case id := <-proposals:
					r, err := s.JSON(wctx, "POST", "/v1/proposals/"+url.PathEscape(id)+"/approve", keys["supB"], map[string]string{"comment": "reliability"}, nil, nil)
					if err == nil {
						count(r.Status)
						if r.Status/100 == 2 {
							record(ack{"approval", id})
						}
					}
				}
			}
		}()
		time.Sleep(time.Duration(300+rng.IntN(1700)) * time.Millisecond)
		s.Kill()
		stop()
		wg.Wait()
		mu.Lock()
		cycleAcks := append([]ack(nil), acked...)
		mu.Unlock()
		if err := s.Start(ctx); err != nil {
			return res, fmt.Errorf("cycle %d: restart: %w", cycle, err)
		}
		found := 0
		for _, a := range cycleAcks {
			res.Acked[a.kind]++
			ok, err := stored(ctx, s, keys, coll, a)
			if err != nil {
				return res, fmt.Errorf("cycle %d: check %s %s: %w", cycle, a.kind, a.id, err)
			}
			if ok {
				res.Found[a.kind]++
				found++
			} else {
				res.Lost = append(res.Lost, fmt.Sprintf("cycle %d: %s %s", cycle, a.kind, a.id))
			}
		}
		res.Cycles++
		logf("kill -9 cycle %d/%d: %d acknowledged, %d found", cycle, cycles, len(cycleAcks), found)
	}
	s.Stop()
	return res, nil
}

// stored says whether the acknowledged write a is there after a restart.
func stored(ctx context.Context, s *Server, keys map[string]string, coll string, a ack) (bool, error) {
	var path, key string
	switch a.kind {
	case "document":
		path, key = "/v1/collections/"+coll+"/documents/"+url.PathEscape(a.id), keys["dev"]
	case "ticket":
		path, key = "/v1/hotline/tickets/"+url.PathEscape(a.id), keys["hot"]
	default:
		path, key = "/v1/proposals/"+url.PathEscape(a.id), keys["supA"]
	}
	var p struct {
		Status string `json:"status"`
	}
	r, err := s.JSON(ctx, "GET", path, key, nil, &p, nil)
	if err != nil {
		return false, err
	}
	switch {
	case r.Status == 404:
		return false, nil
	case r.Status != 200:
		return false, fmt.Errorf("GET %s: %d %s", path, r.Status, r.Body)
	case a.kind == "approval":
		return p.Status != "proposed" && p.Status != "", nil // approved, executed or failed: the decision is stored
	}
	return true, nil
}

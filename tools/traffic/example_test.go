package traffic_test

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/cityagent/cityagent/democity"
	"github.com/cityagent/cityagent/tools/traffic"
)

// The congestion tool over the demo city, on a Tuesday in the morning peak.
func ExampleTools() {
	clock := func() time.Time { return time.Date(2025, 6, 3, 8, 15, 0, 0, time.FixedZone("CST", 8*60*60)) }
	city := democity.New(democity.DefaultSeed, clock)
	for _, tool := range traffic.Tools(city, clock) {
		if tool.Spec().Name != traffic.NameCongestion {
			continue
		}
		res, err := tool.Call(context.Background(), json.RawMessage(`{"limit":1}`))
		if err != nil {
			fmt.Println(err)
			return
		}
		var out traffic.CongestionResult
		if err := json.Unmarshal(res.Content, &out); err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(out.Summary)
		fmt.Println(out.SummaryZh)
		fmt.Println(res.Citation.Source, res.Citation.AsOf.Format(time.RFC3339))
	}
	// Output:
	// Most congested road segments city-wide at 08:15 CST Tue 3 Jun 2025, morning peak: 1) Jiefang Avenue WB, Gaoxin Avenue to Shengli Road (S037, Gaoxin High-tech Zone) congestion index 6.83 (severely congested), 7.9 km/h vs 54 free-flow; cause: crash blocking 2 lanes since 08:13 (expected clear 09:40); morning peak demand; demand exceeds capacity (v/c 4.99). Average congestion index 1.68 over 224 segments, 34 congested. City network index 1.97 (arterials, length-weighted).
	// 2025年6月3日（周二）08:15 CST（早高峰），全市最拥堵路段：1）解放大道（高新大道至胜利路，西向）（S037，高新区）拥堵指数6.83（严重拥堵），车速7.9公里/小时（畅行车速54）；原因：交通事故占用2条车道（08:13起，预计09:40解除）；早高峰车流；车流量超过通行能力（饱和度4.99）。共224个路段，平均拥堵指数1.68，34个路段拥堵。全市路网拥堵指数1.97（主干道按长度加权）。
	// democity:traffic 2025-06-03T08:15:00+08:00
}

// Command robfig writes the test vectors that tests/unit/test_batchcron_vectors.py checks jobsched's
// Python port of robfig/cron v3.0.1 (the parser and Next that batch/v1 CronJobs use) against:
// parse verdicts with kube-apiserver's messages, chains of Next fire times per zone around the DST
// transitions of 2025 and 2026, and the CronJob controller's mostRecentScheduleTime.
//
// Regenerate (deterministic for a given tzdata; the seed is fixed):
//
//	cd tests/vectors/robfig && go run . > vectors.json
package main

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

var zones = []string{
	"UTC", "America/New_York", "Europe/Berlin", "Asia/Shanghai", "Australia/Lord_Howe", "Asia/Kolkata",
}

// Hand-picked schedules whose fire times are checked in every zone.
var picked = []string{
	"* * * * *", "*/5 * * * *", "*/7 * * * *", "5/15 * * * *", "0-59/7 * * * *", "0,30 * * * *",
	"0 * * * *", "30 * * * *", "15,45 * * * *", "*/30 1-3 * * *", "0 */5 * * *", "0 1-5/2 * * *",
	"0 0 * * *", "30 0 * * *", "0 1 * * *", "30 1 * * *", "45 1 * * *", "0 2 * * *", "15 2 * * *",
	"30 2 * * *", "59 2 * * *", "0 3 * * *", "30 3 * * *", "0 23 * * *", "30 23 * * *", "0 2-3 * * *",
	"*/15 1-2 * * *", "0,30 0-3 * * *", "0 12 * * *",
	"0 0 */1 * mon", "0 0 */2 * mon", "0 0 1 * mon", "0 0 1,15 * 5", "0 0 13 * fri", "0 0 * * 0",
	"0 0 * * 6", "0 0 * * sun,sat", "0 0 1-7 * 1", "30 6-16/4 * * 1-5", "0 0 15 * */2", "0 0 * * */1",
	"0 0 ? * MON-FRI", "0 9 * 1-6 mon-fri", "0 0 * * 1,2", "0 0 */1 * */1", "0 0 1-31 * 1",
	"0 0 29 2 *", "0 0 28-31 * *", "0 0 31 * *", "0 0 30 * *", "59 23 31 12 *", "0 12 29 2 1",
	"0 0 29,30 2 *", "0 0 31 4,6 *", "0 0 31 1-3 *",
	"0 0 1 */3 *", "0 0 */10 * *", "0 0 1/10 * *", "0 0 1 JAN,jul *", "0 0 * Feb-apr *", "0 0 L * *",
	"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly",
	"@every 90s", "@every 1h30m", "@every 1m", "@every 25h", "@every 0.5s", "@every 7m13.9s", "@every -5s",
	"+5 * * * *", "05 * * * *", "1,,2 * * * *", ",1 * * * *", "1, * * * *", "*-5 * * * *", "? ? ? ? ?",
	"1-5/1 * * * *", "*/1 * * * *", "?/2 * * * *", "*-1-2 * * * *", "0\t0  * * *", "0 0 * * 1-5",
	"0 0 30 2 *", "0 0 31 4 *", "0 0 1 1 *", "0 0 29 2 5",
}

// Schedules whose parse verdict alone is checked (most are refused by batch/v1).
var verdictOnly = []string{
	"* * * * 7", "0 0 * * 0-7", "0 0 * * 1-7", "0 0 * * 6-0", "0 0 * * 5-1", "5-3 * * * *", "@YEARLY",
	"@Daily", "@every", "@every ", "@every 1x", "@every  90s", "@every 1h 30m", "@every 1.5h", "@every 0",
	"@every 1µs", "@every 1μs", "@every 2562047h", "@every 2562048h", "@every 9223372036854775807ns",
	"@every 9223372036854775808ns", "@every +1m", "@every .5m", "@every 1.m", "@every .m", "@every 1e3s",
	"@reboot", "0 0 L * *", "0 0 * * 5#3", "0 0 15W * *", "* * * * * *", "* * * *", "", " ", "\t",
	"60 * * * *", "* 24 * * *", "* * 0 * *", "* * 32 * *", "* * * 0 *", "* * * 13 *", "*/0 * * * *",
	"1-2-3 * * * *", "1/2/3 * * * *", "/5 * * * *", "5/ * * * *", "-1 * * * *", "*/-1 * * * *",
	"99999999999999999999 * * * *", "18446744073709551616 * * * *", "9223372036854775808 * * * *",
	"9223372036854775807 * * * *", "*/9223372036854775807 * * * *", "TZ=UTC 0 0 * * *",
	"CRON_TZ=Europe/Berlin 0 0 * * *", "TZ=UTC", "0 0 * * mon-sun", "* * * * MON", "* * * jan-DEC *",
	"* * * * Mo", "* * * * monday", "0 0 * * 5,7", "0 0 * * *\n", "0\u00a00 * * *", "0\u200b0 * * *",
	"0\u30000 * * *", "0\u00850 * * *", "0\x1c0 * * *", "@daily ", " @daily", "0 0 * * *  ",
	"mon * * * *", "0 0 * jan *", "0 0 * * FRİ", "0 0 * * fri", "0 0 * * 0x1", "0 0 * * 1_0",
	"0 0 * * ٣", "0 0 * * ３", "0 0 ** * *", "0 0 *,* * *", "0 0 1-1 * *", "0 0 0-0 * *", "0 0 * * -0",
	"0 0 * * +0", "0 0 * * +", "0 0 * * 00006", "0 0 * * 1-", "0 0 * * -1-2", "0 0 * * *-", "0 0 * * ?-?",
	"0 0 * * 1/0", "0 0 * * 1/1", "0 0 * * 1/100", "0 0 * * ,,,", "0 0 * * ,", "@ daily", "@", "@hourly\t",
	"TZ", "0 0 * * * TZ", "\"0 0 * * *\"", "0 0 * * *\\", "0 0 * * \u00e9",
}

type chain struct {
	Spec   string    `json:"spec"`
	Zone   string    `json:"zone"`
	Chains [][]int64 `json:"chains"` // [start_s, start_ns, Δ1, Δ2, ...]; Δ in s; a trailing -1 = zero time
}

// recent holds mostRecentScheduleTime's answers for one schedule in one zone. A row is
// [earliest_s, now_s, now_ns, startingDeadlineSeconds (-1: nil), slot_s (-1: nil), missed (0 none,
// 1 few, 2 many), error (0/1)]; the deadline is applied as the controller's nextScheduleTime does.
type recent struct {
	Spec string    `json:"spec"`
	Zone string    `json:"zone"`
	Rows [][]int64 `json:"rows"`
}

type document struct {
	About      map[string]string `json:"about"`
	Parse      [][3]any          `json:"parse"` // [spec, ok, messages joined by "; "]
	Next       []chain           `json:"next"`
	MostRecent []recent          `json:"most_recent"`
}

const nextPerChain = 6

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// transitions are the instants in [from, to) at which zone's UTC offset changes.
func transitions(loc *time.Location, from, to time.Time) []time.Time {
	var out []time.Time
	_, prev := from.In(loc).Zone()
	for t := from.Add(time.Hour); t.Before(to); t = t.Add(time.Hour) {
		_, off := t.In(loc).Zone()
		if off == prev {
			continue
		}
		lo, hi := t.Add(-time.Hour).Unix(), t.Unix()
		for hi-lo > 1 {
			mid := (lo + hi) / 2
			if _, o := time.Unix(mid, 0).In(loc).Zone(); o == off {
				hi = mid
			} else {
				lo = mid
			}
		}
		out = append(out, time.Unix(hi, 0).UTC())
		prev = off
	}
	return out
}

func starts(loc *time.Location) []time.Time {
	out := []time.Time{
		time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2026, 2, 27, 23, 59, 59, 500_000_000, time.UTC),
		time.Date(2027, 12, 31, 23, 59, 0, 999_999_000, time.UTC),
	}
	for _, tr := range transitions(loc, time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)) {
		out = append(out, tr.Add(-26*time.Hour), tr.Add(-5*time.Minute))
	}
	return out
}

func nextChain(s cron.Schedule, start time.Time) []int64 {
	row := []int64{start.Unix(), int64(start.Nanosecond())}
	prev, t := start.Unix(), start
	for range nextPerChain {
		t = s.Next(t)
		if t.IsZero() {
			return append(row, -1)
		}
		row = append(row, t.Unix()-prev)
		prev = t.Unix()
	}
	return row
}

func verdict(spec string) [3]any {
	errs := validateScheduleFormat(spec)
	return [3]any{spec, len(errs) == 0, strings.Join(errs, "; ")}
}

// randomField builds one field from robfig's grammar, sometimes a little out of bounds.
func randomField(r *rand.Rand, lo, hi int, names []string) string {
	value := func() string {
		if names != nil && r.IntN(4) == 0 {
			name := names[r.IntN(len(names))]
			if r.IntN(3) == 0 {
				name = strings.ToUpper(name)
			}
			return name
		}
		return fmt.Sprint(lo + r.IntN(hi-lo+2) - r.IntN(2)*r.IntN(2))
	}
	item := func() string {
		switch r.IntN(8) {
		case 0:
			return "*"
		case 1:
			return fmt.Sprintf("*/%d", 1+r.IntN(hi/2+1))
		case 2:
			return fmt.Sprintf("%s/%d", value(), 1+r.IntN(hi/2+1))
		case 3, 4:
			return fmt.Sprintf("%s-%s", value(), value())
		case 5:
			return fmt.Sprintf("%s-%s/%d", value(), value(), 1+r.IntN(hi/3+1))
		case 6:
			return "?"
		default:
			return value()
		}
	}
	if r.IntN(3) != 0 {
		return "*"
	}
	parts := []string{item()}
	for r.IntN(3) == 0 {
		parts = append(parts, item())
	}
	return strings.Join(parts, ",")
}

func randomSpec(r *rand.Rand) string {
	months := []string{"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"}
	days := []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}
	fields := []string{
		randomField(r, 0, 59, nil), randomField(r, 0, 23, nil), randomField(r, 1, 31, nil),
		randomField(r, 1, 12, months), randomField(r, 0, 6, days),
	}
	if r.IntN(5) == 0 { // keep minute and hour small so that fire times are dense
		fields[0] = fmt.Sprint(r.IntN(60))
	}
	return strings.Join(fields, " ")
}

func randomGarbage(r *rand.Rand) string {
	const alphabet = "0123456789*?,-/ @abcdefmnorstuyAEMNOSTUZ=+\t."
	b := make([]byte, r.IntN(18))
	for i := range b {
		b[i] = alphabet[r.IntN(len(alphabet))]
	}
	return string(b)
}

func main() {
	r := rand.New(rand.NewPCG(2025, 2026))
	doc := document{About: map[string]string{
		"generator": "tests/vectors/robfig (go run . > vectors.json)",
		"robfig":    "github.com/robfig/cron/v3 v3.0.1",
		"kube":      "k8s.io/kubernetes v1.36.3 validation and cronjob controller logic (kube.go)",
		"go":        runtime.Version(),
		"tzdata":    tzVersion(),
	}}

	randomSpecs := make([]string, 0, 260)
	for len(randomSpecs) < 260 {
		randomSpecs = append(randomSpecs, randomSpec(r))
	}
	garbage := make([]string, 0, 120)
	for range 120 {
		garbage = append(garbage, randomGarbage(r))
	}
	for _, list := range [][]string{picked, verdictOnly, randomSpecs, garbage} {
		for _, spec := range list {
			doc.Parse = append(doc.Parse, verdict(spec))
		}
	}

	locs := map[string]*time.Location{}
	for _, z := range zones {
		locs[z] = must(time.LoadLocation(z))
	}
	for _, spec := range picked {
		if len(validateScheduleFormat(spec)) > 0 {
			continue
		}
		for _, z := range zones {
			s := must(controllerSchedule(spec, z))
			c := chain{Spec: spec, Zone: z}
			for _, st := range starts(locs[z]) {
				c.Chains = append(c.Chains, nextChain(s, st))
			}
			doc.Next = append(doc.Next, c)
		}
	}
	// Random valid schedules: two zones each, three starts each.
	for _, spec := range randomSpecs {
		if len(validateScheduleFormat(spec)) > 0 {
			continue
		}
		for range 2 {
			z := zones[r.IntN(len(zones))]
			s := must(controllerSchedule(spec, z))
			c := chain{Spec: spec, Zone: z}
			all := starts(locs[z])
			for range 3 {
				st := all[r.IntN(len(all))].Add(time.Duration(r.IntN(3*86400)) * time.Second)
				c.Chains = append(c.Chains, nextChain(s, st))
			}
			doc.Next = append(doc.Next, c)
		}
	}
	// The midnight gap of São Paulo (2018-11-04 00:00 → 01:00), which robfig's Next special-cases.
	for _, spec := range []string{"0 0 * * *", "30 0 * * *", "0 0 4 11 *", "0 1 * * *"} {
		s := must(controllerSchedule(spec, "America/Sao_Paulo"))
		c := chain{Spec: spec, Zone: "America/Sao_Paulo"}
		for _, st := range []time.Time{time.Date(2018, 11, 2, 12, 0, 0, 0, time.UTC), time.Date(2019, 2, 15, 12, 0, 0, 0, time.UTC)} {
			c.Chains = append(c.Chains, nextChain(s, st))
		}
		doc.Next = append(doc.Next, c)
	}

	// mostRecentScheduleTime: an earliest time (lastScheduleTime or creationTimestamp) and a now.
	recentSpecs := []string{
		"* * * * *", "*/5 * * * *", "0 * * * *", "30 1 * * *", "30 2 * * *", "0 0 * * *", "0 0 * * 1,2",
		"30 6-16/4 * * 1-5", "0 0 1 * *", "0 0 29 2 *", "0 0 31 * *", "0 0 30 2 *", "@every 90s",
		"@every 1h30m", "@weekly", "0 0 */1 * mon", "0,50 * * * *", "0 9-17 * * mon-fri",
	}
	deadline := int64(200)
	base := []time.Time{
		time.Date(2026, 1, 4, 0, 0, 0, 0, time.UTC), time.Date(2026, 3, 7, 23, 3, 17, 0, time.UTC),
		time.Date(2026, 10, 31, 22, 0, 0, 0, time.UTC),
	}
	lags := []time.Duration{
		30 * time.Second, 61 * time.Second, time.Hour + 500*time.Millisecond, 25 * time.Hour,
		7*24*time.Hour + 12*time.Hour, 95 * 24 * time.Hour, 2 * 365 * 24 * time.Hour,
	}
	for _, spec := range recentSpecs {
		for _, z := range []string{"UTC", "America/New_York"} {
			s := must(controllerSchedule(spec, z))
			rec := recent{Spec: spec, Zone: z}
			for _, b := range base {
				for _, lag := range lags {
					for _, dl := range []*int64{nil, &deadline} {
						now := b.Add(lag)
						_, slot, missed, err := mostRecentScheduleTime(b, dl, now, s, dl != nil)
						row := []int64{b.Unix(), now.Unix(), int64(now.Nanosecond()), -1, -1, int64(missed), 0}
						if dl != nil {
							row[3] = *dl
						}
						if slot != nil {
							row[4] = slot.Unix()
						}
						if err != nil {
							row[6] = 1
						}
						rec.Rows = append(rec.Rows, row)
					}
				}
			}
			doc.MostRecent = append(doc.MostRecent, rec)
		}
	}

	out := must(json.Marshal(doc))
	os.Stdout.Write(out)
	os.Stdout.Write([]byte("\n"))
}

func tzVersion() string {
	data, err := os.ReadFile("/usr/share/zoneinfo/tzdata.zi")
	if err != nil {
		return "unknown"
	}
	line, _, _ := strings.Cut(string(data), "\n")
	return strings.TrimPrefix(line, "# version ")
}

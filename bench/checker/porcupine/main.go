// Times Porcupine on the corpus for bench/checker: per file, parse + check,
// repeated; prints one JSON object per file and run, then peak memory.
// Reading rules follow Porcupine's own tests for these files: timed-out
// reads and never-completed ops are returned at the end with an unknown
// output; ":fail :cas" is a completed cas whose comparison failed.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"hash/fnv"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"
)

type porcupineOp = porcupine.Operation
type porcupineModel = porcupine.Model

type regInput struct {
	op   int // 0 read, 1 write, 2 cas
	a, b int
}

type regOutput struct {
	ok, exists, unknown bool
	value               int
}

const absent = -1 << 40

var registerModel = porcupine.Model{
	Init: func() interface{} { return absent },
	Step: func(state, input, output interface{}) (bool, interface{}) {
		s, in, out := state.(int), input.(regInput), output.(regOutput)
		switch in.op {
		case 0:
			return out.unknown || (!out.exists && s == absent) || (out.exists && s == out.value), s
		case 1:
			return true, in.a
		default:
			next := s
			if s == in.a {
				next = in.b
			}
			return out.unknown || (s == in.a) == out.ok, next
		}
	},
}

type kvInput struct {
	op         int // 0 get, 1 put, 2 append
	key, value string
}

var kvModel = porcupine.Model{
	Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
		byKey := map[string][]porcupine.Operation{}
		for _, op := range history {
			k := op.Input.(kvInput).key
			byKey[k] = append(byKey[k], op)
		}
		keys := make([]string, 0, len(byKey))
		for k := range byKey {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		out := make([][]porcupine.Operation, 0, len(keys))
		for _, k := range keys {
			out = append(out, byKey[k])
		}
		return out
	},
	PartitionEvent: func(history []porcupine.Event) [][]porcupine.Event {
		byKey := map[string][]porcupine.Event{}
		keyOf := map[int]string{}
		for _, ev := range history {
			if ev.Kind == porcupine.CallEvent {
				keyOf[ev.Id] = ev.Value.(kvInput).key
			}
			k := keyOf[ev.Id]
			byKey[k] = append(byKey[k], ev)
		}
		var out [][]porcupine.Event
		for _, evs := range byKey {
			out = append(out, evs)
		}
		return out
	},
	Init: func() interface{} { return "" },
	Step: func(state, input, output interface{}) (bool, interface{}) {
		s, in := state.(string), input.(kvInput)
		switch in.op {
		case 0:
			return output.(string) == s, s
		case 1:
			return true, in.value
		default:
			return true, s + in.value
		}
	},
	Hash: func(state interface{}) uint64 {
		h := fnv.New64a()
		h.Write([]byte(state.(string)))
		return h.Sum64()
	},
}

var (
	jepsenRe = regexp.MustCompile(`^INFO\s+jepsen\.util\s+-\s+(\d+)\s+:(invoke|ok|fail|info)\s+:(read|write|cas)\s+(nil|\d+|\[\d+\s+\d+\]|:timed-out)$`)
	kvRe     = regexp.MustCompile(`^\{:process (\d+), :type :(invoke|ok), :f :(get|put|append), :key "(.*)", :value (nil|"(.*)")\}$`)
)

// eventLog turns per-process invoke/complete lines into Porcupine events;
// a call never completed (crashed client) gets the model's "unknown" return.
type eventLog struct {
	events []porcupine.Event
	open   map[int]int
	id     int
}

func (l *eventLog) call(proc int, in interface{}) {
	l.events = append(l.events, porcupine.Event{ClientId: proc, Kind: porcupine.CallEvent, Value: in, Id: l.id})
	l.open[proc] = l.id
	l.id++
}

func (l *eventLog) ret(proc int, out interface{}) {
	l.events = append(l.events, porcupine.Event{ClientId: proc, Kind: porcupine.ReturnEvent, Value: out, Id: l.open[proc]})
	delete(l.open, proc)
}

// scanEvents feeds every line of path that re matches to handle and closes
// the calls left open with unknown.
func scanEvents(path string, re *regexp.Regexp, unknown interface{}, handle func(l *eventLog, m []string)) []porcupine.Event {
	f, err := os.Open(path)
	if err != nil {
		panic(err)
	}
	defer f.Close()
	l := &eventLog{open: map[int]int{}}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<26)
	for sc.Scan() {
		if m := re.FindStringSubmatch(sc.Text()); m != nil {
			handle(l, m)
		}
	}
	for proc, i := range l.open {
		l.events = append(l.events, porcupine.Event{ClientId: proc, Kind: porcupine.ReturnEvent, Value: unknown, Id: i})
	}
	return l.events
}

func parseJepsen(path string) []porcupine.Event {
	return scanEvents(path, jepsenRe, regOutput{unknown: true}, func(l *eventLog, m []string) {
		proc, _ := strconv.Atoi(m[1])
		typ, fn, val := m[2], m[3], m[4]
		if typ == "invoke" {
			in := regInput{}
			switch fn {
			case "write":
				in.op = 1
				in.a, _ = strconv.Atoi(val)
			case "cas":
				in.op = 2
				parts := strings.Fields(strings.Trim(val, "[]"))
				in.a, _ = strconv.Atoi(parts[0])
				in.b, _ = strconv.Atoi(parts[1])
			}
			l.call(proc, in)
			return
		}
		if typ == "info" || (typ == "fail" && fn != "read" && fn != "cas") {
			return // indeterminate: stays open, returned at the end
		}
		out := regOutput{}
		switch {
		case typ == "fail" && fn == "read":
			out.unknown = true
		case fn == "read":
			if val != "nil" {
				out.exists = true
				out.value, _ = strconv.Atoi(val)
			}
		case fn == "cas":
			out.ok = typ == "ok"
		}
		l.ret(proc, out)
	})
}

func parseKv(path string) []porcupine.Event {
	ops := map[string]int{"get": 0, "put": 1, "append": 2}
	return scanEvents(path, kvRe, "", func(l *eventLog, m []string) {
		proc, _ := strconv.Atoi(m[1])
		if m[2] == "invoke" {
			l.call(proc, kvInput{ops[m[3]], m[4], m[6]})
		} else {
			l.ret(proc, m[6])
		}
	})
}

func peakRSSKiB() int {
	data, _ := os.ReadFile("/proc/self/status")
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			n, _ := strconv.Atoi(strings.Fields(line)[1])
			return n
		}
	}
	return 0
}

func verdict(r porcupine.CheckResult) interface{} {
	switch r {
	case porcupine.Ok:
		return true
	case porcupine.Illegal:
		return false
	}
	return "unknown"
}

// usage: porcupine-bench [-timeout S] REPEATS FORMAT:PATH...
// FORMAT: jepsen-log | porcupine-kv | jsonl-cas-register | jsonl-kv
func main() {
	timeout := flag.Float64("timeout", 0, "seconds per check, then verdict unknown (0: none)")
	flag.Parse()
	limit := time.Duration(*timeout * float64(time.Second))
	repeats, _ := strconv.Atoi(flag.Arg(0))
	enc := json.NewEncoder(os.Stdout)
	for _, arg := range flag.Args()[1:] {
		format, path, _ := strings.Cut(arg, ":")
		for r := 0; r < repeats; r++ {
			start := time.Now()
			var res porcupine.CheckResult
			switch format {
			case "jepsen-log":
				res = porcupine.CheckEventsTimeout(registerModel, parseJepsen(path), limit)
			case "porcupine-kv":
				res = porcupine.CheckEventsTimeout(kvModel, parseKv(path), limit)
			case "jsonl-cas-register", "jsonl-kv":
				ops, model := parseJsonl(path, strings.TrimPrefix(format, "jsonl-"))
				res = porcupine.CheckOperationsTimeout(model, ops, limit)
			default:
				panic("unknown format " + format)
			}
			enc.Encode(map[string]interface{}{"file": path, "valid": verdict(res), "seconds": time.Since(start).Seconds()})
		}
	}
	fmt.Printf("{\"peak_rss_kib\": %d}\n", peakRSSKiB())
}

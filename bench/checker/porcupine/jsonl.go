// Our JSONL histories (DESIGN.md) read into Porcupine operations, with the
// semantics of checker/ (core.py, models/cas_register.py, models/kv.py):
//   - an info op, or one never completed, returns at +infinity
//     (math.MaxInt64) with an unknown output: it may take effect any time
//     after its call, or never;
//   - a fail with an "error" field definitely did not happen: dropped;
//   - cas-register: a cas that failed without error is a comparison that
//     did not match; any other failed op, and reads that did not return ok,
//     constrain nothing: dropped;
//   - kv: failed ops and gets that did not return ok are dropped;
//   - values compare as canonical JSON (null = absent); kv values are the
//     string itself, or the canonical JSON of a non-string, null = "".
//
// Ops are partitioned by the canonical JSON of "key".
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math"
	"os"
	"sort"
	"strconv"
)

const absentJSON = "null"

type jsonlEvent struct {
	Process json.RawMessage `json:"process"`
	Type    string          `json:"type"`
	F       string          `json:"f"`
	Key     json.RawMessage `json:"key"`
	Value   json.RawMessage `json:"value"`
	Time    json.RawMessage `json:"time"`
	Error   json.RawMessage `json:"error"`
}

// canonical re-encodes a JSON value with sorted object keys and numbers kept
// as spelled (so 1 and 1.0 differ, as in Python's json).
func canonical(raw json.RawMessage) string {
	if len(raw) == 0 {
		return absentJSON
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v interface{}
	if err := dec.Decode(&v); err != nil {
		panic(fmt.Sprintf("bad JSON value %s: %v", raw, err))
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		panic(err)
	}
	return string(bytes.TrimRight(buf.Bytes(), "\n"))
}

func kvText(raw json.RawMessage) string {
	c := canonical(raw)
	if c == absentJSON {
		return ""
	}
	var s string
	if c[0] == '"' && json.Unmarshal(raw, &s) == nil {
		return s
	}
	return c
}

type jRegInput struct {
	key  string
	op   int // 0 read, 1 write, 2 cas
	a, b string
}

type jRegOutput struct {
	unknown bool
	ok      bool   // cas: compared equal
	value   string // read: canonical JSON read
}

type jKvInput struct {
	key   string
	op    int // 0 get, 1 put, 2 append
	value string
}

type jKvOutput struct {
	unknown bool
	value   string
}

func strHash(s interface{}) uint64 {
	h := fnv.New64a()
	h.Write([]byte(s.(string)))
	return h.Sum64()
}

func partitionBy(key func(interface{}) string) func([]porcupineOp) [][]porcupineOp {
	return func(history []porcupineOp) [][]porcupineOp {
		byKey := map[string][]porcupineOp{}
		var order []string
		for _, op := range history {
			k := key(op.Input)
			if _, seen := byKey[k]; !seen {
				order = append(order, k)
			}
			byKey[k] = append(byKey[k], op)
		}
		out := make([][]porcupineOp, 0, len(order))
		for _, k := range order {
			out = append(out, byKey[k])
		}
		return out
	}
}

var jsonlRegisterModel = porcupineModel{
	Partition: partitionBy(func(in interface{}) string { return in.(jRegInput).key }),
	Init:      func() interface{} { return absentJSON },
	Step: func(state, input, output interface{}) (bool, interface{}) {
		s, in, out := state.(string), input.(jRegInput), output.(jRegOutput)
		switch in.op {
		case 0:
			return out.unknown || s == out.value, s
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
	Hash: strHash,
}

var jsonlKvModel = porcupineModel{
	Partition: partitionBy(func(in interface{}) string { return in.(jKvInput).key }),
	Init:      func() interface{} { return "" },
	Step: func(state, input, output interface{}) (bool, interface{}) {
		s, in, out := state.(string), input.(jKvInput), output.(jKvOutput)
		switch in.op {
		case 0:
			return out.unknown || s == out.value, s
		case 1:
			return true, in.value
		default:
			return true, s + in.value
		}
	},
	Hash: strHash,
}

type pendingOp struct {
	ev   jsonlEvent
	call int64
}

// parseTime: integer times as they are; any non-integer time turns all times
// of the file into their ranks (order and ties are all that matter).
func parseTimes(events []jsonlEvent) []int64 {
	out := make([]int64, len(events))
	floats := make([]float64, len(events))
	integral := true
	for i, ev := range events {
		if len(ev.Time) == 0 {
			out[i], floats[i] = int64(i), float64(i)
			continue
		}
		if n, err := strconv.ParseInt(string(ev.Time), 10, 64); err == nil {
			out[i], floats[i] = n, float64(n)
			continue
		}
		f, err := strconv.ParseFloat(string(ev.Time), 64)
		if err != nil {
			panic(fmt.Sprintf("bad time %s", ev.Time))
		}
		floats[i], integral = f, false
	}
	if integral {
		return out
	}
	sorted := append([]float64(nil), floats...)
	sort.Float64s(sorted)
	for i, f := range floats {
		out[i] = int64(sort.SearchFloat64s(sorted, f))
	}
	return out
}

// parseJsonl returns the operations and the model for "cas-register" or "kv".
func parseJsonl(path, model string) ([]porcupineOp, porcupineModel) {
	f, err := os.Open(path)
	if err != nil {
		panic(err)
	}
	defer f.Close()
	var events []jsonlEvent
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<28)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var ev jsonlEvent
		if err := json.Unmarshal(line, &ev); err != nil {
			panic(fmt.Sprintf("%s: %v", path, err))
		}
		events = append(events, ev)
	}
	times := parseTimes(events)
	kv := model == "kv"
	var ops []porcupineOp
	pending := map[string]pendingOp{}
	client := map[string]int{}
	add := func(inv pendingOp, ret int64, status string, result json.RawMessage, errField json.RawMessage) {
		ev := inv.ev
		failed := status == "fail"
		if failed && len(errField) > 0 && string(errField) != "null" {
			return
		}
		unknown := status == "info"
		key := canonical(ev.Key)
		var in, out interface{}
		if kv {
			if failed || (ev.F == "get" && status != "ok") {
				return
			}
			switch ev.F {
			case "get":
				in, out = jKvInput{key, 0, ""}, jKvOutput{false, kvText(result)}
			case "put":
				in, out = jKvInput{key, 1, kvText(ev.Value)}, jKvOutput{unknown: unknown}
			case "delete":
				in, out = jKvInput{key, 1, ""}, jKvOutput{unknown: unknown}
			case "append":
				in, out = jKvInput{key, 2, kvText(ev.Value)}, jKvOutput{unknown: unknown}
			default:
				panic("kv has no operation " + ev.F)
			}
		} else {
			if (ev.F == "read" && status != "ok") || (failed && ev.F != "cas") {
				return
			}
			switch ev.F {
			case "read":
				in, out = jRegInput{key, 0, "", ""}, jRegOutput{value: canonical(result)}
			case "write":
				in, out = jRegInput{key, 1, canonical(ev.Value), ""}, jRegOutput{unknown: unknown}
			case "delete":
				in, out = jRegInput{key, 1, absentJSON, ""}, jRegOutput{unknown: unknown}
			case "cas":
				var pair []json.RawMessage
				if json.Unmarshal(ev.Value, &pair) != nil || len(pair) != 2 {
					panic("cas value must be [expected, new]")
				}
				in = jRegInput{key, 2, canonical(pair[0]), canonical(pair[1])}
				out = jRegOutput{unknown: unknown, ok: status == "ok"}
			default:
				panic("cas-register has no operation " + ev.F)
			}
		}
		proc := string(ev.Process)
		id, ok := client[proc]
		if !ok {
			id = len(client)
			client[proc] = id
		}
		if unknown {
			ret = math.MaxInt64
		}
		ops = append(ops, porcupineOp{ClientId: id, Input: in, Call: inv.call, Output: out, Return: ret})
	}
	for i, ev := range events {
		proc := string(ev.Process)
		if proc == `"nemesis"` {
			continue
		}
		if ev.Type == "invoke" {
			pending[proc] = pendingOp{ev, times[i]}
			continue
		}
		inv, ok := pending[proc]
		if !ok {
			panic(fmt.Sprintf("%s: completion without invoke", path))
		}
		delete(pending, proc)
		add(inv, times[i], ev.Type, ev.Value, ev.Error)
	}
	// Never completed: like info. Map order is random; sort for determinism.
	var open []string
	for p := range pending {
		open = append(open, p)
	}
	sort.Strings(open)
	for _, p := range open {
		add(pending[p], math.MaxInt64, "info", nil, nil)
	}
	if kv {
		return ops, jsonlKvModel
	}
	return ops, jsonlRegisterModel
}

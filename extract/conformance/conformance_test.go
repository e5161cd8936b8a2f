package conformance_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"

	"etl/extract"
	"etl/extract/conformance"
)

// fake is an in-memory connector; broken names the fault it has, if any.
type fake struct {
	ids    []string // served in pages, repeats included
	bad    []string
	page   int
	broken string
}

func (f *fake) Source() string { return "fake" }

func (f *fake) Extract(ctx context.Context, w *extract.Writer) error {
	for from := 0; from < len(f.ids); from += f.page {
		if err := ctx.Err(); err != nil && f.broken != "ignores cancellation" {
			return err
		}
		to := min(len(f.ids), from+f.page)
		if f.broken == "drops the last record" && to == len(f.ids) {
			to--
		}
		for _, id := range f.ids[from:to] {
			if err := w.Append(&extract.Row{SourceID: id}); err != nil {
				return err
			}
		}
		w.Page()
	}
	if f.broken == "drops bad records" {
		return nil
	}
	for _, id := range f.bad {
		if err := w.Reject(id, "unreadable", []byte(`{"id":"`+id+`"}`)); err != nil {
			return err
		}
	}
	return nil
}

func target(broken string) conformance.Target {
	tg := conformance.Target{Name: "fake",
		Start: func(t *testing.T, n int, opts conformance.Options) conformance.Fixture {
			var fx conformance.Fixture
			for i := range n {
				fx.IDs = append(fx.IDs, fmt.Sprintf("r%03d", i))
			}
			for i := range opts.Bad {
				fx.BadIDs = append(fx.BadIDs, fmt.Sprintf("bad%d", i))
			}
			fx.Extractor = &fake{ids: slices.Concat(fx.IDs, fx.IDs[:opts.Repeat]), bad: fx.BadIDs, page: opts.PageSize, broken: broken}
			return fx
		},
		NotApplicable: map[conformance.Group]string{conformance.HTTP: "in memory", conformance.Insert: "in memory"},
	}
	switch broken {
	case "declares Cancel not applicable":
		tg.NotApplicable[conformance.Cancel] = "would rather not"
	case "does not declare HTTP not applicable":
		delete(tg.NotApplicable, conformance.HTTP)
	}
	return tg
}

// TestFake runs the suite against the fake, sound unless
// TestSuiteCatchesBrokenConnectors runs it with a fault.
func TestFake(t *testing.T) {
	conformance.Run(t, target(os.Getenv("CONFORMANCE_BROKEN")))
}

// The suite must fail a broken connector, in the cases that own the fault
// and in no other.
func TestSuiteCatchesBrokenConnectors(t *testing.T) {
	if os.Getenv("CONFORMANCE_BROKEN") != "" {
		t.Skip("running as the broken connector's suite")
	}
	for broken, want := range map[string][]string{
		"ignores cancellation": {"Cancel/BetweenPages"},
		"drops the last record": {"Completeness/BatchesSmallerThanPages", "Completeness/FullPages",
			"Completeness/FullPagesPlusOne", "Completeness/PageSize1", "Duplicates/RecordServedTwice", "Rejects/UnreadableRecord"},
		"drops bad records":              {"Rejects/UnreadableRecord"},
		"declares Cancel not applicable": nil,
		// A case is skipped only by declaration: without one, every HTTP
		// case fails for want of an emulator.
		"does not declare HTTP not applicable": {"HTTP/CancelDuringRetryAfter", "HTTP/CancelWhileWaitingForAnswer",
			"HTTP/ConnectionCut", "HTTP/NeverRecovers", "HTTP/PacedBelowVendorLimits", "HTTP/RandomFaults",
			"HTTP/ServerErrors", "HTTP/SlowerThanTimeout", "HTTP/ThrottledWithRetryAfter",
			"HTTP/ThrottledWithoutRetryAfter", "HTTP/TruncatedBody", "HTTP/Unauthorized"},
	} {
		t.Run(broken, func(t *testing.T) {
			t.Parallel()
			cmd := exec.Command(os.Args[0], "-test.run=^TestFake$", "-test.v")
			cmd.Env = append(os.Environ(), "CONFORMANCE_BROKEN="+broken)
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("the suite passed a connector that %s:\n%s", broken, out)
			}
			var failed []string
			for _, m := range regexp.MustCompile(`--- FAIL: TestFake/(\S+)`).FindAllStringSubmatch(string(out), -1) {
				failed = append(failed, m[1])
			}
			slices.Sort(failed)
			if !slices.Equal(failed, want) {
				t.Errorf("failed cases %q, want %q\n%s", failed, want, out)
			}
			if want == nil && !strings.Contains(string(out), "applies to every connector") {
				t.Errorf("the suite does not say why it refused the declaration:\n%s", out)
			}
		})
	}
}

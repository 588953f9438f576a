package playbooks

import "fmt"

// checkStructure enforces rules about where steps may sit in the tree:
//
//   - an approval cannot run inside a parallel branch: the campaign asks
//     one decision at a time, and two approvals racing for one answer
//     would approve content nobody looked at;
//   - a publish with at, or a wait with until, cannot sit inside a repeat:
//     a fixed instant fires once, so every later run would go out at once
//     (give the repeat an every, or the step an after/for, instead).
func checkStructure(c *collector, steps []Step, field string, inParallel, inRepeat bool) {
	for i := range steps {
		s := &steps[i]
		f := fmt.Sprintf("%s[%d]", field, i)
		if s.Approval != nil && inParallel {
			c.add(s.Pos, f+".approval", "an approval cannot run inside a parallel branch: move it before the parallel step")
		}
		if inRepeat && s.Publish != nil && s.Publish.At != "" {
			c.add(s.Pos, f+".publish.at", "a fixed time inside a repeat fires only once; use after, or every on the repeat")
		}
		if inRepeat && s.Wait != nil && s.Wait.Until != "" {
			c.add(s.Pos, f+".wait.until", "a fixed time inside a repeat fires only once; use for, or every on the repeat")
		}
		checkStructure(c, s.Parallel, f+".parallel", true, inRepeat)
		checkStructure(c, s.Sequence, f+".steps", inParallel, inRepeat)
		if s.Repeat != nil {
			checkStructure(c, s.Repeat.Steps, f+".repeat.steps", inParallel, true)
		}
		checkStructure(c, s.Else, f+".else", inParallel, inRepeat)
	}
}

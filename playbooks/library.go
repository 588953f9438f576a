package playbooks

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// shipped is the library of playbooks that comes with cmo.
//
//go:embed *.yaml
var shipped embed.FS

// Library is a set of validated playbooks, addressed by name.
type Library struct {
	byName map[string]*Plan
}

// Shipped loads the playbooks that come with cmo. They are validated by the
// tests, so an error here is a bug in the build.
func Shipped() (*Library, error) { return LoadFS(shipped, ".") }

// LoadFS loads every *.yaml and *.yml file in dir. All files are checked and
// all errors returned together; two playbooks may not share a name.
func LoadFS(fsys fs.FS, dir string) (*Library, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("read playbooks: %w", err)
	}
	lib := &Library{byName: map[string]*Plan{}}
	var all Errors
	var other []error
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !(strings.HasSuffix(name, ".yaml") || strings.HasSuffix(name, ".yml")) {
			continue
		}
		file := path.Join(dir, name)
		src, err := fs.ReadFile(fsys, file)
		if err != nil {
			other = append(other, fmt.Errorf("read %s: %w", file, err))
			continue
		}
		p, err := Parse(file, src)
		if err != nil {
			if es, ok := AsErrors(err); ok {
				all = append(all, es...)
				continue
			}
			other = append(other, err)
			continue
		}
		if prev, dup := lib.byName[p.Name]; dup {
			all = append(all, &Error{File: file, Pos: Pos{Line: 1, Col: 1}, Field: "name", Msg: fmt.Sprintf("playbook %q is also defined in %s", p.Name, prev.File)})
			continue
		}
		lib.byName[p.Name] = p
	}
	if len(other) > 0 {
		return nil, errors.Join(append(other, all)...)
	}
	if len(all) > 0 {
		return nil, all.sorted()
	}
	return lib, nil
}

// Get returns the playbook with that name.
func (l *Library) Get(name string) (*Plan, bool) {
	p, ok := l.byName[name]
	return p, ok
}

// List returns every playbook, sorted by name.
func (l *Library) List() []*Plan {
	out := make([]*Plan, 0, len(l.byName))
	for _, p := range l.byName {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Names lists the playbook names, for error messages.
func (l *Library) Names() []string {
	names := make([]string, 0, len(l.byName))
	for n := range l.byName {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Load returns the shipped playbooks extended with those in dir (when not
// empty). A playbook in dir replaces a shipped one of the same name, so a
// team can adapt a shipped procedure without rebuilding cmo.
func Load(dir string) (*Library, error) {
	lib, err := Shipped()
	if err != nil {
		return nil, err
	}
	if dir == "" {
		return lib, nil
	}
	extra, err := LoadFS(os.DirFS(dir), ".")
	if err != nil {
		return nil, fmt.Errorf("playbooks in %s: %w", dir, err)
	}
	for name, p := range extra.byName {
		p.File = filepath.Join(dir, p.File)
		lib.byName[name] = p
	}
	return lib, nil
}

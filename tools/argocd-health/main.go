// argocd-health: runs an Argo CD resource health script (Lua) against one object, the way Argo CD
// does for a `resource.customizations.health.<group>_<kind>` entry in argocd-cm: gopher-lua (the
// interpreter Argo CD embeds), standard libraries off except package, base and table (Argo CD's
// default when useOpenLibs is not set), a one-second timeout, and the object in the global `obj`.
//
//	argocd-health <health.lua> < object.json
//
// Prints {"status": ..., "message": ...}. Exit code: 0 when the script returned a table with a
// valid Argo CD health status, 1 otherwise.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	lua "github.com/yuin/gopher-lua"
)

func main() {
	if len(os.Args) != 2 {
		fail(fmt.Errorf("usage: %s <health.lua> < object.json", os.Args[0]))
	}
	script, err := os.ReadFile(os.Args[1])
	if err != nil {
		fail(err)
	}
	in, err := io.ReadAll(os.Stdin)
	if err != nil {
		fail(err)
	}
	var obj map[string]any
	if err := json.Unmarshal(in, &obj); err != nil {
		fail(fmt.Errorf("object: %w", err))
	}

	l := lua.NewState(lua.Options{SkipOpenLibs: true})
	defer l.Close()
	for _, lib := range []struct {
		name string
		open lua.LGFunction
	}{
		{lua.LoadLibName, lua.OpenPackage},
		{lua.BaseLibName, lua.OpenBase},
		{lua.TabLibName, lua.OpenTable},
	} {
		if err := l.CallByParam(lua.P{Fn: l.NewFunction(lib.open), NRet: 0, Protect: true}, lua.LString(lib.name)); err != nil {
			fail(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	l.SetContext(ctx)
	l.SetGlobal("obj", decode(l, obj))
	if err := l.DoString(string(script)); err != nil {
		fail(err)
	}
	ret, ok := l.Get(-1).(*lua.LTable)
	if !ok {
		fail(fmt.Errorf("expect table output from Lua script, not %s", l.Get(-1).Type()))
	}
	status := lua.LVAsString(ret.RawGetString("status"))
	message := lua.LVAsString(ret.RawGetString("message"))
	out, err := json.Marshal(map[string]string{"status": status, "message": message})
	if err != nil {
		fail(err)
	}
	fmt.Println(string(out))
	switch status {
	case "Healthy", "Progressing", "Degraded", "Suspended", "Missing", "Unknown":
	default:
		fail(fmt.Errorf("Lua returned an invalid health status %q", status))
	}
}

// decode converts decoded JSON into Lua values as Argo CD's util/lua decodeValue does.
func decode(l *lua.LState, v any) lua.LValue {
	switch c := v.(type) {
	case bool:
		return lua.LBool(c)
	case float64:
		return lua.LNumber(c)
	case string:
		return lua.LString(c)
	case []any:
		t := l.CreateTable(len(c), 0)
		for _, item := range c {
			t.Append(decode(l, item))
		}
		return t
	case map[string]any:
		t := l.CreateTable(0, len(c))
		for k, item := range c {
			t.RawSetH(lua.LString(k), decode(l, item))
		}
		return t
	}
	return lua.LNil
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "argocd-health:", err)
	os.Exit(1)
}

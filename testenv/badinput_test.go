package testenv_test

import (
	"context"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/skiffhq/skiff/testenv"
)

// TestNoInputCrashesTheServer sends malformed and hostile bodies to every writable resource and
// expects client errors (4xx), never a server error: a 5xx here would be a panic or an unchecked path.
func TestNoInputCrashesTheServer(t *testing.T) {
	env := testenv.New(t)
	client := kubernetes.NewForConfigOrDie(env.Config)
	ctx := context.Background()
	_, lists, err := client.Discovery().ServerGroupsAndResources()
	if err != nil {
		t.Fatal(err)
	}
	bodies := []string{
		``,
		`not json at all`,
		`{`,
		`[]`,
		`null`,
		`{"apiVersion":"v1","kind":"Nope","metadata":{"name":"x"}}`,
		`{"metadata":{"name":"x"},"spec":null,"status":null}`,
		`{"metadata":{"name":"x"},"spec":{"replicas":"three","template":{"spec":{"containers":[{}]}}}}`,
		`{"metadata":{"name":"x","labels":{"a":{"b":1}}}}`,
		`{"metadata":{"name":"` + strings.Repeat("a", 300) + `"}}`,
		`{"metadata":{"name":"x"},"spec":{"ports":[{"port":99999999999}],"clusterIP":"999.1.1.1","type":"Weird"}}`,
		`{"metadata":{"name":"x"},"spec":{"containers":[{"name":"c","image":"i","resources":{"limits":{"cpu":"-1"}}}],"volumes":[{"name":"v"}]}}`,
		`{"metadata":{"name":"x"},"spec":{"selector":{"matchExpressions":[{"key":"","operator":"Bogus"}]}}}`,
		`{"metadata":{"name":"x"},"data":{"..":"x"},"rules":[{}],"subjects":[{}],"roleRef":{}}`,
		strings.Repeat(`{"a":`, 5000) + `1` + strings.Repeat(`}`, 5000),
	}
	posted := 0
	for _, list := range lists {
		for _, r := range list.APIResources {
			if strings.Contains(r.Name, "/") || !hasVerb(r.Verbs, "create") {
				continue
			}
			rc := client.CoreV1().RESTClient()
			prefix := "/apis/" + list.GroupVersion
			if list.GroupVersion == "v1" {
				prefix = "/api/v1"
			}
			path := prefix + "/" + r.Name
			if r.Namespaced {
				path = prefix + "/namespaces/default/" + r.Name
			}
			for i, body := range bodies {
				for _, ct := range []string{"application/json", "application/yaml"} {
					res := rc.Post().AbsPath(path).Body([]byte(body)).SetHeader("Content-Type", ct).Do(ctx)
					var code int
					res.StatusCode(&code)
					posted++
					if code >= 500 || code == 0 {
						t.Errorf("POST %s body #%d (%s): status %d: %v", path, i, ct, code, res.Error())
					}
				}
			}
		}
	}
	if posted < 500 {
		t.Fatalf("only %d requests sent: discovery found too few resources", posted)
	}
	if _, err := client.CoreV1().Namespaces().Get(ctx, "default", metav1.GetOptions{}); err != nil {
		t.Fatalf("server unhealthy after bad input: %v", err)
	}
	body, err := client.Discovery().RESTClient().Get().AbsPath("/healthz").DoRaw(ctx)
	if err != nil || string(body) != "ok" {
		t.Fatalf("healthz after bad input: %q %v", body, err)
	}
}

func hasVerb(verbs []string, want string) bool {
	for _, v := range verbs {
		if v == want {
			return true
		}
	}
	return false
}

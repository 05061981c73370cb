// Package printers builds the tables that `kubectl get` prints, on the server.
//
// kubectl asks for a resource with `Accept: application/json;as=Table;g=meta.k8s.io;v=v1`; the API
// server then hands the object or list it read to the resource's rest.TableConvertor and returns
// the metav1.Table it builds. For gives each served resource the columns and cells of
// kube-apiserver's printers (k8s.io/kubernetes pkg/printers/internalversion), so that `kubectl get`
// and `kubectl get -o wide` print what they print against a real cluster; resources without
// columns of their own (roles, cluster roles, limit ranges) get k8s.io/apiserver's default table,
// NAME and CREATED AT.
//
// A resource's table is a printer: its column definitions and a function giving the cells of one
// object's row. Everything else (lists, table options, list metadata) is shared. The server always
// returns every column, the wide ones included (priority 1); kubectl hides those unless asked for
// `-o wide`.
package printers

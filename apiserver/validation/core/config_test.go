package core

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func validConfigMap() *corev1.ConfigMap {
	return &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "app-config", Namespace: "default", ResourceVersion: "1"},
		Data:       map[string]string{"app.conf": "x=1", "LOG_LEVEL": "info"},
		BinaryData: map[string][]byte{"logo.png": {0x89, 0x50}},
	}
}

func TestValidateConfigMap(t *testing.T) {
	runCases(t, validConfigMap, ValidateConfigMap, []tcase[corev1.ConfigMap]{
		{name: "valid config map passes"},
		{name: "name is a DNS subdomain", mutate: func(c *corev1.ConfigMap) { c.Name = "App_Config" }, typ: field.ErrorTypeInvalid, field: "metadata.name"},
		{name: "namespace is required", mutate: func(c *corev1.ConfigMap) { c.Namespace = "" }, typ: field.ErrorTypeRequired, field: "metadata.namespace"},
		{name: "keys are config keys", mutate: func(c *corev1.ConfigMap) { c.Data["a/b"] = "" }, typ: field.ErrorTypeInvalid, field: "data[a/b]"},
		{name: "key '..' is reserved", mutate: func(c *corev1.ConfigMap) { c.Data[".."] = "" }, typ: field.ErrorTypeInvalid, field: "data[..]"},
		{name: "binary keys are config keys", mutate: func(c *corev1.ConfigMap) { c.BinaryData["a b"] = nil }, typ: field.ErrorTypeInvalid, field: "binaryData[a b]"},
		{name: "a key lives in one map only", mutate: func(c *corev1.ConfigMap) { c.BinaryData["app.conf"] = []byte("x") },
			typ: field.ErrorTypeInvalid, field: "data[app.conf]", detail: "duplicate of key present in binaryData"},
		{name: "total size is at most 1MiB", mutate: func(c *corev1.ConfigMap) { c.Data["big"] = strings.Repeat("x", corev1.MaxSecretSize) },
			typ: field.ErrorTypeTooLong, field: "[]"},
	})
	immutable := func(c *corev1.ConfigMap) { c.Immutable = ptr(true) }
	runUpdateCases(t, validConfigMap, ValidateConfigMapUpdate, []ucase[corev1.ConfigMap]{
		{name: "data may change", change: func(c *corev1.ConfigMap) { c.Data["LOG_LEVEL"] = "debug" }},
		{name: "may become immutable", change: immutable},
		{name: "immutable data is frozen", setup: immutable, change: func(c *corev1.ConfigMap) { c.Data["LOG_LEVEL"] = "debug" },
			typ: field.ErrorTypeForbidden, field: "data", detail: "field is immutable when `immutable` is set"},
		{name: "immutable binary data is frozen", setup: immutable, change: func(c *corev1.ConfigMap) { delete(c.BinaryData, "logo.png") },
			typ: field.ErrorTypeForbidden, field: "binaryData"},
		{name: "immutable cannot be unset", setup: immutable, change: func(c *corev1.ConfigMap) { c.Immutable = ptr(false) },
			typ: field.ErrorTypeForbidden, field: "immutable"},
		{name: "immutable objects may still change labels", setup: immutable, change: func(c *corev1.ConfigMap) { c.Labels = map[string]string{"a": "b"} }},
	})
}

func validSecret() *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: "default", ResourceVersion: "1"},
		Type:       corev1.SecretTypeOpaque,
		Data:       map[string][]byte{"password": []byte("hunter2")},
	}
}

func TestValidateSecret(t *testing.T) {
	tls := func(s *corev1.Secret) {
		s.Type = corev1.SecretTypeTLS
		s.Data = map[string][]byte{corev1.TLSCertKey: []byte("cert"), corev1.TLSPrivateKeyKey: []byte("key")}
	}
	runCases(t, validSecret, ValidateSecret, []tcase[corev1.Secret]{
		{name: "opaque secret passes"},
		{name: "stringData passes", mutate: func(s *corev1.Secret) { s.StringData = map[string]string{"user": "admin"} }},
		{name: "tls secret passes", mutate: tls},
		{name: "dockerconfigjson secret passes", mutate: func(s *corev1.Secret) {
			s.Type = corev1.SecretTypeDockerConfigJson
			s.Data = map[string][]byte{corev1.DockerConfigJsonKey: []byte(`{"auths":{}}`)}
		}},
		{name: "dockerconfigjson may come from stringData", mutate: func(s *corev1.Secret) {
			s.Type = corev1.SecretTypeDockerConfigJson
			s.StringData = map[string]string{corev1.DockerConfigJsonKey: `{"auths":{}}`}
		}},
		{name: "basic auth with only a username passes", mutate: func(s *corev1.Secret) {
			s.Type = corev1.SecretTypeBasicAuth
			s.Data = map[string][]byte{corev1.BasicAuthUsernameKey: []byte("admin")}
		}},
		{name: "custom types pass", mutate: func(s *corev1.Secret) { s.Type = "example.com/token" }},

		{name: "name is a DNS subdomain", mutate: func(s *corev1.Secret) { s.Name = "DB" }, typ: field.ErrorTypeInvalid, field: "metadata.name"},
		{name: "keys are config keys", mutate: func(s *corev1.Secret) { s.Data["pass word"] = nil }, typ: field.ErrorTypeInvalid, field: "data[pass word]"},
		{name: "stringData keys are config keys", mutate: func(s *corev1.Secret) { s.StringData = map[string]string{"a:b": "x"} },
			typ: field.ErrorTypeInvalid, field: "stringData[a:b]"},
		{name: "total size is at most 1MiB", mutate: func(s *corev1.Secret) { s.Data["big"] = make([]byte, corev1.MaxSecretSize) },
			typ: field.ErrorTypeTooLong, field: "data"},
		{name: "stringData counts towards the size", mutate: func(s *corev1.Secret) {
			s.StringData = map[string]string{"big": strings.Repeat("x", corev1.MaxSecretSize)}
		},
			typ: field.ErrorTypeTooLong, field: "data"},
		{name: "tls secrets need a certificate", mutate: func(s *corev1.Secret) { tls(s); delete(s.Data, corev1.TLSCertKey) },
			typ: field.ErrorTypeRequired, field: "data[tls.crt]"},
		{name: "tls secrets need a key", mutate: func(s *corev1.Secret) { tls(s); delete(s.Data, corev1.TLSPrivateKeyKey) },
			typ: field.ErrorTypeRequired, field: "data[tls.key]"},
		{name: "dockerconfigjson secrets need their key", mutate: func(s *corev1.Secret) { s.Type = corev1.SecretTypeDockerConfigJson },
			typ: field.ErrorTypeRequired, field: "data[.dockerconfigjson]"},
		{name: "dockerconfigjson is JSON", mutate: func(s *corev1.Secret) {
			s.Type = corev1.SecretTypeDockerConfigJson
			s.Data = map[string][]byte{corev1.DockerConfigJsonKey: []byte("{")}
		}, typ: field.ErrorTypeInvalid, field: "data[.dockerconfigjson]"},
		{name: "dockercfg secrets need their key", mutate: func(s *corev1.Secret) { s.Type = corev1.SecretTypeDockercfg },
			typ: field.ErrorTypeRequired, field: "data[.dockercfg]"},
		{name: "basic auth needs a username or password", mutate: func(s *corev1.Secret) { s.Type = corev1.SecretTypeBasicAuth; s.Data = nil },
			typ: field.ErrorTypeRequired, field: "data[username]"},
		{name: "ssh auth needs a private key", mutate: func(s *corev1.Secret) { s.Type = corev1.SecretTypeSSHAuth },
			typ: field.ErrorTypeRequired, field: "data[ssh-privatekey]"},
		{name: "token secrets name their service account", mutate: func(s *corev1.Secret) { s.Type = corev1.SecretTypeServiceAccountToken },
			typ: field.ErrorTypeRequired, field: "metadata.annotations[kubernetes.io/service-account.name]"},
	})
	runUpdateCases(t, validSecret, ValidateSecretUpdate, []ucase[corev1.Secret]{
		{name: "data may change", change: func(s *corev1.Secret) { s.Data["password"] = []byte("new") }},
		{name: "omitted type keeps the stored one", change: func(s *corev1.Secret) { s.Type = "" }},
		{name: "type is immutable", change: func(s *corev1.Secret) { tls(s) }, typ: field.ErrorTypeInvalid, field: "type", detail: "field is immutable"},
		{name: "immutable data is frozen", setup: func(s *corev1.Secret) { s.Immutable = ptr(true) },
			change: func(s *corev1.Secret) { s.Data["password"] = []byte("new") }, typ: field.ErrorTypeForbidden, field: "data"},
		{name: "immutable data cannot change through stringData", setup: func(s *corev1.Secret) { s.Immutable = ptr(true) },
			change: func(s *corev1.Secret) { s.StringData = map[string]string{"password": "new"} }, typ: field.ErrorTypeForbidden, field: "data"},
		{name: "immutable cannot be unset", setup: func(s *corev1.Secret) { s.Immutable = ptr(true) },
			change: func(s *corev1.Secret) { s.Immutable = nil }, typ: field.ErrorTypeForbidden, field: "immutable"},
	})
}

func TestValidateServiceAccount(t *testing.T) {
	sa := func() *corev1.ServiceAccount {
		return &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "builder", Namespace: "ci", ResourceVersion: "1"}}
	}
	runCases(t, sa, ValidateServiceAccount, []tcase[corev1.ServiceAccount]{
		{name: "valid service account passes"},
		{name: "name is a DNS subdomain", mutate: func(s *corev1.ServiceAccount) { s.Name = "Builder" }, typ: field.ErrorTypeInvalid, field: "metadata.name"},
		{name: "namespace is required", mutate: func(s *corev1.ServiceAccount) { s.Namespace = "" }, typ: field.ErrorTypeRequired, field: "metadata.namespace"},
	})
	runUpdateCases(t, sa, ValidateServiceAccountUpdate, []ucase[corev1.ServiceAccount]{
		{name: "secrets may change", change: func(s *corev1.ServiceAccount) { s.Secrets = []corev1.ObjectReference{{Name: "token"}} }},
		{name: "namespace is immutable", change: func(s *corev1.ServiceAccount) { s.Namespace = "other" }, typ: field.ErrorTypeInvalid, field: "metadata.namespace"},
	})
}

func validNamespace() *corev1.Namespace {
	return &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{Name: "team-a", ResourceVersion: "1"},
		Spec:       corev1.NamespaceSpec{Finalizers: []corev1.FinalizerName{corev1.FinalizerKubernetes}},
		Status:     corev1.NamespaceStatus{Phase: corev1.NamespaceActive},
	}
}

func TestValidateNamespace(t *testing.T) {
	runCases(t, validNamespace, ValidateNamespace, []tcase[corev1.Namespace]{
		{name: "valid namespace passes"},
		{name: "name is a DNS label", mutate: func(n *corev1.Namespace) { n.Name = "team.a" }, typ: field.ErrorTypeInvalid, field: "metadata.name"},
		{name: "name is required", mutate: func(n *corev1.Namespace) { n.Name = "" }, typ: field.ErrorTypeRequired, field: "metadata.name"},
		{name: "namespaces have no namespace", mutate: func(n *corev1.Namespace) { n.Namespace = "default" }, typ: field.ErrorTypeForbidden, field: "metadata.namespace"},
		{name: "spec finalizers are standard or qualified", mutate: func(n *corev1.Namespace) { n.Spec.Finalizers = []corev1.FinalizerName{"cleanup"} },
			typ: field.ErrorTypeInvalid, field: "spec.finalizers[0]"},
		{name: "qualified spec finalizers pass", mutate: func(n *corev1.Namespace) { n.Spec.Finalizers = []corev1.FinalizerName{"example.com/cleanup"} }},
	})
	runUpdateCases(t, validNamespace, ValidateNamespaceUpdate, []ucase[corev1.Namespace]{
		{name: "labels may change", change: func(n *corev1.Namespace) { n.Labels = map[string]string{"team": "a"} }},
		{name: "name is immutable", change: func(n *corev1.Namespace) { n.Name = "team-b" }, typ: field.ErrorTypeInvalid, field: "metadata.name"},
	})
	deleting := func(n *corev1.Namespace) { n.DeletionTimestamp = &metav1.Time{Time: time.Unix(1, 0)} }
	runUpdateCases(t, validNamespace, ValidateNamespaceStatusUpdate, []ucase[corev1.Namespace]{
		{name: "active namespace stays Active"},
		{name: "deleting namespace becomes Terminating", setup: deleting, change: func(n *corev1.Namespace) { n.Status.Phase = corev1.NamespaceTerminating }},
		{name: "live namespace may not be Terminating", change: func(n *corev1.Namespace) { n.Status.Phase = corev1.NamespaceTerminating },
			typ: field.ErrorTypeInvalid, field: "status.phase"},
		{name: "deleting namespace may not be Active", setup: deleting, typ: field.ErrorTypeInvalid, field: "status.phase"},
	})
	runUpdateCases(t, validNamespace, ValidateNamespaceFinalizeUpdate, []ucase[corev1.Namespace]{
		{name: "finalizers may be removed", change: func(n *corev1.Namespace) { n.Spec.Finalizers = nil }},
		{name: "finalizers are qualified names", change: func(n *corev1.Namespace) { n.Spec.Finalizers = []corev1.FinalizerName{"example.com/a b"} },
			typ: field.ErrorTypeInvalid, field: "spec.finalizers[0]"},
	})
}

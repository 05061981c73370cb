package groups

import (
	"context"
	"fmt"

	authenticationv1 "k8s.io/api/authentication/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/apiserver/pkg/registry/rest"

	"github.com/skiffhq/skiff/apiserver/registry"
)

// authentication serves authentication.k8s.io/v1 selfsubjectreviews: who the server takes the caller
// for (`kubectl auth whoami`).
func authentication(*registry.StorageFactory) (Group, error) {
	return Group{
		Name:     authenticationv1.GroupName,
		Versions: map[string]map[string]rest.Storage{"v1": {"selfsubjectreviews": &selfSubjectReviewREST{}}},
		Order:    []string{"v1"},
	}, nil
}

type selfSubjectReviewREST struct{}

var (
	_ rest.Creater                  = &selfSubjectReviewREST{}
	_ rest.Scoper                   = &selfSubjectReviewREST{}
	_ rest.SingularNameProvider     = &selfSubjectReviewREST{}
	_ rest.GroupVersionKindProvider = &selfSubjectReviewREST{}
)

func (r *selfSubjectReviewREST) New() runtime.Object     { return &authenticationv1.SelfSubjectReview{} }
func (r *selfSubjectReviewREST) Destroy()                {}
func (r *selfSubjectReviewREST) NamespaceScoped() bool   { return false }
func (r *selfSubjectReviewREST) GetSingularName() string { return "selfsubjectreview" }
func (r *selfSubjectReviewREST) GroupVersionKind(schema.GroupVersion) schema.GroupVersionKind {
	return authenticationv1.SchemeGroupVersion.WithKind("SelfSubjectReview")
}

// Create answers with the caller's user information.
func (r *selfSubjectReviewREST) Create(ctx context.Context, obj runtime.Object, createValidation rest.ValidateObjectFunc, options *metav1.CreateOptions) (runtime.Object, error) {
	if _, ok := obj.(*authenticationv1.SelfSubjectReview); !ok {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("not a SelfSubjectReview: %T", obj))
	}
	u, ok := request.UserFrom(ctx)
	if !ok {
		return nil, apierrors.NewUnauthorized("no user in the request")
	}
	review := &authenticationv1.SelfSubjectReview{
		ObjectMeta: metav1.ObjectMeta{CreationTimestamp: metav1.Now()},
		Status: authenticationv1.SelfSubjectReviewStatus{UserInfo: authenticationv1.UserInfo{
			Username: u.GetName(), UID: u.GetUID(), Groups: u.GetGroups(),
		}},
	}
	if extra := u.GetExtra(); len(extra) > 0 {
		review.Status.UserInfo.Extra = map[string]authenticationv1.ExtraValue{}
		for k, v := range extra {
			review.Status.UserInfo.Extra[k] = v
		}
	}
	return review, nil
}

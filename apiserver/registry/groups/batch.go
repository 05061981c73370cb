package groups

import (
	"context"

	batchv1 "k8s.io/api/batch/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/skiffhq/skiff/apiserver/defaults"
	"github.com/skiffhq/skiff/apiserver/registry"
	batchvalidation "github.com/skiffhq/skiff/apiserver/validation/batch"
)

func batch(factory *registry.StorageFactory) (Group, error) {
	jobs := &registry.Resource{
		Resource: "jobs", Singular: "job", Kind: "Job", Categories: []string{"all"},
		Namespaced: true, Status: true, Generation: true,
		New:     func() runtime.Object { return &batchv1.Job{} },
		NewList: func() runtime.Object { return &batchv1.JobList{} },
		Policy: registry.Typed(defaults.Job, batchvalidation.ValidateJob, batchvalidation.ValidateJobUpdate,
			batchvalidation.ValidateJobStatusUpdate),
		Fields: jobFields,
		// The selector is made from the job's UID, which exists only once the object is being created.
		Hooks: registry.Hooks{PrepareForCreate: func(_ context.Context, obj runtime.Object) {
			defaults.JobSelector(obj.(*batchv1.Job))
		}},
	}
	cronjobs := &registry.Resource{
		Resource: "cronjobs", Singular: "cronjob", Kind: "CronJob", ShortNames: []string{"cj"},
		Categories: []string{"all"}, Namespaced: true, Status: true, Generation: true,
		New:     func() runtime.Object { return &batchv1.CronJob{} },
		NewList: func() runtime.Object { return &batchv1.CronJobList{} },
		Policy: registry.Typed(defaults.CronJob, batchvalidation.ValidateCronJob, batchvalidation.ValidateCronJobUpdate,
			batchvalidation.ValidateCronJobStatusUpdate),
	}
	g, _, err := single(factory, batchv1.SchemeGroupVersion, jobs, cronjobs)
	return g, err
}

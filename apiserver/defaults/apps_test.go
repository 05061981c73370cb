package defaults

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

func podTemplate() corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "nginx:1"}}},
	}
}

func defaultedPodTemplate() corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
		Spec:       defaultedPodSpec(defaultedContainer("app", "nginx:1", corev1.PullIfNotPresent)),
	}
}

func TestDeploymentDefaults(t *testing.T) {
	tests := []struct {
		name string
		in   appsv1.DeploymentSpec
		want appsv1.DeploymentSpec
	}{
		{
			name: "one replica rolled out 25%/25%, 10 revisions, 600s deadline, template defaulted",
			in:   appsv1.DeploymentSpec{Template: podTemplate()},
			want: appsv1.DeploymentSpec{
				Replicas: ptr.To(int32(1)),
				Strategy: appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType, RollingUpdate: &appsv1.RollingUpdateDeployment{
					MaxUnavailable: ptr.To(intstr.FromString("25%")), MaxSurge: ptr.To(intstr.FromString("25%")),
				}},
				RevisionHistoryLimit:    ptr.To(int32(10)),
				ProgressDeadlineSeconds: ptr.To(int32(600)),
				Template:                defaultedPodTemplate(),
			},
		},
		{
			name: "set values are kept, a partial rolling update is completed",
			in: appsv1.DeploymentSpec{
				Replicas:             ptr.To(int32(0)),
				Strategy:             appsv1.DeploymentStrategy{RollingUpdate: &appsv1.RollingUpdateDeployment{MaxSurge: ptr.To(intstr.FromInt32(0))}},
				RevisionHistoryLimit: ptr.To(int32(2)), ProgressDeadlineSeconds: ptr.To(int32(60)),
				Template: podTemplate(),
			},
			want: appsv1.DeploymentSpec{
				Replicas: ptr.To(int32(0)),
				Strategy: appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType, RollingUpdate: &appsv1.RollingUpdateDeployment{
					MaxUnavailable: ptr.To(intstr.FromString("25%")), MaxSurge: ptr.To(intstr.FromInt32(0)),
				}},
				RevisionHistoryLimit: ptr.To(int32(2)), ProgressDeadlineSeconds: ptr.To(int32(60)),
				Template: defaultedPodTemplate(),
			},
		},
		{
			name: "a Recreate strategy gets no rolling update parameters",
			in:   appsv1.DeploymentSpec{Strategy: appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}, Template: podTemplate()},
			want: appsv1.DeploymentSpec{
				Replicas:                ptr.To(int32(1)),
				Strategy:                appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType},
				RevisionHistoryLimit:    ptr.To(int32(10)),
				ProgressDeadlineSeconds: ptr.To(int32(600)),
				Template:                defaultedPodTemplate(),
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			check(t, Deployment, &appsv1.Deployment{Spec: tt.in}, &appsv1.Deployment{Spec: tt.want})
		})
	}
}

func TestReplicaSetDefaults(t *testing.T) {
	check(t, ReplicaSet,
		&appsv1.ReplicaSet{Spec: appsv1.ReplicaSetSpec{Template: podTemplate()}},
		&appsv1.ReplicaSet{Spec: appsv1.ReplicaSetSpec{Replicas: ptr.To(int32(1)), Template: defaultedPodTemplate()}})
	t.Run("set replicas are kept", func(t *testing.T) {
		check(t, ReplicaSet,
			&appsv1.ReplicaSet{Spec: appsv1.ReplicaSetSpec{Replicas: ptr.To(int32(3)), Template: podTemplate()}},
			&appsv1.ReplicaSet{Spec: appsv1.ReplicaSetSpec{Replicas: ptr.To(int32(3)), Template: defaultedPodTemplate()}})
	})
}

func TestStatefulSetDefaults(t *testing.T) {
	retain := &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{
		WhenDeleted: appsv1.RetainPersistentVolumeClaimRetentionPolicyType,
		WhenScaled:  appsv1.RetainPersistentVolumeClaimRetentionPolicyType,
	}
	tests := []struct {
		name string
		in   appsv1.StatefulSetSpec
		want appsv1.StatefulSetSpec
	}{
		{
			name: "one replica, ordered, rolling from partition 0, claims retained, claim templates defaulted",
			in: appsv1.StatefulSetSpec{
				Template:             podTemplate(),
				VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{ObjectMeta: metav1.ObjectMeta{Name: "data"}}},
			},
			want: appsv1.StatefulSetSpec{
				Replicas:            ptr.To(int32(1)),
				PodManagementPolicy: appsv1.OrderedReadyPodManagement,
				UpdateStrategy: appsv1.StatefulSetUpdateStrategy{
					Type:          appsv1.RollingUpdateStatefulSetStrategyType,
					RollingUpdate: &appsv1.RollingUpdateStatefulSetStrategy{Partition: ptr.To(int32(0))},
				},
				RevisionHistoryLimit:                 ptr.To(int32(10)),
				PersistentVolumeClaimRetentionPolicy: retain,
				Template:                             defaultedPodTemplate(),
				VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{
					ObjectMeta: metav1.ObjectMeta{Name: "data"},
					Spec:       corev1.PersistentVolumeClaimSpec{VolumeMode: ptr.To(corev1.PersistentVolumeFilesystem)},
					Status:     corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimPending},
				}},
			},
		},
		{
			name: "set values are kept, an explicit RollingUpdate without parameters stays without",
			in: appsv1.StatefulSetSpec{
				Replicas: ptr.To(int32(3)), PodManagementPolicy: appsv1.ParallelPodManagement,
				UpdateStrategy:       appsv1.StatefulSetUpdateStrategy{Type: appsv1.RollingUpdateStatefulSetStrategyType},
				RevisionHistoryLimit: ptr.To(int32(1)),
				PersistentVolumeClaimRetentionPolicy: &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{
					WhenDeleted: appsv1.DeletePersistentVolumeClaimRetentionPolicyType,
				},
				Template: podTemplate(),
			},
			want: appsv1.StatefulSetSpec{
				Replicas: ptr.To(int32(3)), PodManagementPolicy: appsv1.ParallelPodManagement,
				UpdateStrategy:       appsv1.StatefulSetUpdateStrategy{Type: appsv1.RollingUpdateStatefulSetStrategyType},
				RevisionHistoryLimit: ptr.To(int32(1)),
				PersistentVolumeClaimRetentionPolicy: &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{
					WhenDeleted: appsv1.DeletePersistentVolumeClaimRetentionPolicyType,
					WhenScaled:  appsv1.RetainPersistentVolumeClaimRetentionPolicyType,
				},
				Template: defaultedPodTemplate(),
			},
		},
		{
			name: "an OnDelete strategy gets no partition",
			in: appsv1.StatefulSetSpec{
				UpdateStrategy: appsv1.StatefulSetUpdateStrategy{Type: appsv1.OnDeleteStatefulSetStrategyType},
				Template:       podTemplate(),
			},
			want: appsv1.StatefulSetSpec{
				Replicas:                             ptr.To(int32(1)),
				PodManagementPolicy:                  appsv1.OrderedReadyPodManagement,
				UpdateStrategy:                       appsv1.StatefulSetUpdateStrategy{Type: appsv1.OnDeleteStatefulSetStrategyType},
				RevisionHistoryLimit:                 ptr.To(int32(10)),
				PersistentVolumeClaimRetentionPolicy: retain,
				Template:                             defaultedPodTemplate(),
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			check(t, StatefulSet, &appsv1.StatefulSet{Spec: tt.in}, &appsv1.StatefulSet{Spec: tt.want})
		})
	}
}

func TestDaemonSetDefaults(t *testing.T) {
	tests := []struct {
		name string
		in   appsv1.DaemonSetSpec
		want appsv1.DaemonSetSpec
	}{
		{
			name: "rolling one node at a time without surge, 10 revisions",
			in:   appsv1.DaemonSetSpec{Template: podTemplate()},
			want: appsv1.DaemonSetSpec{
				UpdateStrategy: appsv1.DaemonSetUpdateStrategy{Type: appsv1.RollingUpdateDaemonSetStrategyType, RollingUpdate: &appsv1.RollingUpdateDaemonSet{
					MaxUnavailable: ptr.To(intstr.FromInt32(1)), MaxSurge: ptr.To(intstr.FromInt32(0)),
				}},
				RevisionHistoryLimit: ptr.To(int32(10)),
				Template:             defaultedPodTemplate(),
			},
		},
		{
			name: "set values are kept, OnDelete gets no rolling update parameters",
			in: appsv1.DaemonSetSpec{
				UpdateStrategy:       appsv1.DaemonSetUpdateStrategy{Type: appsv1.OnDeleteDaemonSetStrategyType},
				RevisionHistoryLimit: ptr.To(int32(3)),
				Template:             podTemplate(),
			},
			want: appsv1.DaemonSetSpec{
				UpdateStrategy:       appsv1.DaemonSetUpdateStrategy{Type: appsv1.OnDeleteDaemonSetStrategyType},
				RevisionHistoryLimit: ptr.To(int32(3)),
				Template:             defaultedPodTemplate(),
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			check(t, DaemonSet, &appsv1.DaemonSet{Spec: tt.in}, &appsv1.DaemonSet{Spec: tt.want})
		})
	}
}

func TestControllerRevisionIsLeftAsWritten(t *testing.T) {
	rev := &appsv1.ControllerRevision{Revision: 2, Data: runtime.RawExtension{Raw: []byte(`{"spec":{}}`)}}
	check(t, ControllerRevision, rev.DeepCopy(), rev)
}

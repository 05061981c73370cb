package persistentvolume

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	storagehelpers "k8s.io/component-helpers/storage/volume"
	"k8s.io/utils/ptr"

	"github.com/skiffhq/skiff/internal/storageclass"
)

func class(name, provisioner string, mode storagev1.VolumeBindingMode) *storagev1.StorageClass {
	return &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: name}, Provisioner: provisioner, VolumeBindingMode: &mode}
}

func annotated(c *corev1.PersistentVolumeClaim, kv ...string) *corev1.PersistentVolumeClaim {
	c = c.DeepCopy()
	for i := 0; i+1 < len(kv); i += 2 {
		metav1.SetMetaDataAnnotation(&c.ObjectMeta, kv[i], kv[i+1])
	}
	return c
}

func TestDecideClaim(t *testing.T) {
	plain := pvc("data", "2Gi", nil, rwo)
	local := pvc("data", "2Gi", ptr.To("local-path"), rwo)
	localClass := class("local-path", "skiff.dev/local-path", storagev1.VolumeBindingWaitForFirstConsumer)
	fast := pvc("data", "2Gi", ptr.To("fast"), rwo)
	fastClass := class("fast", "example.com/fast", storagev1.VolumeBindingImmediate)
	defaultClass := with(class("standard", "example.com/std", storagev1.VolumeBindingImmediate), func(c *storagev1.StorageClass) {
		c.Annotations = map[string]string{storageclass.IsDefaultAnnotation: "true"}
	})
	bound := annotated(with(plain.DeepCopy(), func(c *corev1.PersistentVolumeClaim) { c.Spec.VolumeName = "v" }),
		storagehelpers.AnnBindCompleted, "yes", storagehelpers.AnnBoundByController, "yes")
	prebound := with(plain.DeepCopy(), func(c *corev1.PersistentVolumeClaim) { c.Spec.VolumeName = "v" })

	tests := []struct {
		name       string
		view       claimView
		action     claimAction
		volume     string
		class      string
		provision  string
		reason     string
		message    string
		waitForPod bool
		wantErr    bool
	}{
		{name: "a claim with a fitting volume binds to it",
			view: claimView{claim: plain, volumes: []*corev1.PersistentVolume{pv("v", "2Gi", "", rwo)}}, action: claimBind, volume: "v"},
		{name: "a claim without class nor volume waits, saying so",
			view: claimView{claim: plain}, action: claimPending, reason: "FailedBinding",
			message: "no persistent volumes available for this claim and no storage class is set"},
		{name: "a claim without class gets the default class once there is one",
			view: claimView{claim: plain, defaultClass: defaultClass}, action: claimAssignClass, class: "standard"},
		{name: "a claim asking for no class gets none",
			view: claimView{claim: pvc("data", "2Gi", ptr.To(""), rwo), defaultClass: defaultClass}, action: claimPending, reason: "FailedBinding"},
		{name: "a WaitForFirstConsumer claim waits for its consumer",
			view:   claimView{claim: local, class: localClass, volumes: []*corev1.PersistentVolume{pv("v", "2Gi", "local-path", rwo)}},
			action: claimPending, waitForPod: true},
		{name: "a WaitForFirstConsumer claim with a selected node is handed to the provisioner",
			view:   claimView{claim: annotated(local, storagehelpers.AnnSelectedNode, "node-1"), class: localClass},
			action: claimProvision, provision: "skiff.dev/local-path"},
		{name: "a WaitForFirstConsumer claim binds to the volume provisioned for it",
			view: claimView{claim: annotated(local, storagehelpers.AnnSelectedNode, "node-1"), class: localClass,
				volumes: []*corev1.PersistentVolume{boundTo(pv("pvc-1", "2Gi", "local-path", rwo), local)}},
			action: claimBind, volume: "pvc-1"},
		{name: "an Immediate claim without volume is handed to its provisioner at once",
			view: claimView{claim: fast, class: fastClass}, action: claimProvision, provision: "example.com/fast"},
		{name: "an Immediate claim binds to a static volume of its class first",
			view:   claimView{claim: fast, class: fastClass, volumes: []*corev1.PersistentVolume{pv("static", "2Gi", "fast", rwo)}},
			action: claimBind, volume: "static"},
		{name: "a claim of a class that does not exist cannot be provisioned",
			view: claimView{claim: fast}, action: claimEventOnly, reason: "ProvisioningFailed",
			message: `storageclass.storage.k8s.io "fast" not found`},
		{name: "a claim of a class without provisioner cannot be provisioned",
			view:   claimView{claim: fast, class: class("fast", "kubernetes.io/no-provisioner", storagev1.VolumeBindingImmediate)},
			action: claimEventOnly, reason: "ProvisioningFailed", message: "no volume plugin matched name: kubernetes.io/no-provisioner"},
		{name: "a claim naming a free volume binds to it",
			view: claimView{claim: prebound, volumes: []*corev1.PersistentVolume{pv("v", "2Gi", "", rwo)}}, action: claimBind, volume: "v"},
		{name: "a claim naming a volume that does not exist waits",
			view: claimView{claim: prebound}, action: claimPending},
		{name: "a claim naming a volume too small waits, saying why",
			view: claimView{claim: prebound, volumes: []*corev1.PersistentVolume{pv("v", "1Gi", "", rwo)}}, action: claimPending,
			reason: "VolumeMismatch", message: `Cannot bind to requested volume "v": requested PV is too small`},
		{name: "a claim naming a volume bound to another claim waits, saying so",
			view:   claimView{claim: prebound, volumes: []*corev1.PersistentVolume{boundTo(pv("v", "2Gi", "", rwo), pvc("other", "1Gi", nil, rwo))}},
			action: claimPending, reason: "FailedBinding", message: `volume "v" already bound to a different claim.`},
		{name: "a claim naming a volume pre-bound to it binds",
			view: claimView{claim: prebound, volumes: []*corev1.PersistentVolume{boundTo(pv("v", "2Gi", "", rwo), plain)}}, action: claimBind, volume: "v"},
		{name: "a controller-bound claim whose volume went to another is an error",
			view: claimView{claim: annotated(prebound, storagehelpers.AnnBoundByController, "yes"),
				volumes: []*corev1.PersistentVolume{boundTo(pv("v", "2Gi", "", rwo), pvc("other", "1Gi", nil, rwo))}},
			action: claimEventOnly, reason: "FailedBinding", wantErr: true},
		{name: "a bound claim stays bound to its volume",
			view: claimView{claim: bound, volumes: []*corev1.PersistentVolume{boundTo(pv("v", "2Gi", "", rwo), plain)}}, action: claimBind, volume: "v"},
		{name: "a bound claim whose volume lost its claimRef rebinds it",
			view: claimView{claim: bound, volumes: []*corev1.PersistentVolume{pv("v", "2Gi", "", rwo)}}, action: claimBind, volume: "v"},
		{name: "a bound claim whose volume is gone is lost",
			view: claimView{claim: bound}, action: claimLost, reason: "ClaimLost",
			message: "Bound claim has lost its PersistentVolume. Data on the volume is lost!"},
		{name: "a bound claim without volumeName is lost",
			view:   claimView{claim: with(bound.DeepCopy(), func(c *corev1.PersistentVolumeClaim) { c.Spec.VolumeName = "" })},
			action: claimLost, reason: "ClaimLost", message: "Bound claim has lost reference to PersistentVolume. Data on the volume is lost!"},
		{name: "a bound claim whose volume is bound to another claim is misbound",
			view:   claimView{claim: bound, volumes: []*corev1.PersistentVolume{boundTo(pv("v", "2Gi", "", rwo), pvc("other", "1Gi", nil, rwo))}},
			action: claimLost, reason: "ClaimMisbound", message: "Two claims are bound to the same volume, this one is bound incorrectly"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, err := decideClaim(tc.view)
			if err != nil {
				t.Fatal(err)
			}
			if d.action != tc.action {
				t.Fatalf("action %d, want %d", d.action, tc.action)
			}
			if tc.volume != "" && (d.volume == nil || d.volume.Name != tc.volume) {
				t.Errorf("volume %v, want %s", d.volume, tc.volume)
			}
			if d.class != tc.class || d.provisioner != tc.provision || d.waitForConsumer != tc.waitForPod {
				t.Errorf("decision %+v", d)
			}
			switch {
			case tc.reason == "" && d.event != nil:
				t.Errorf("unexpected event %+v", d.event)
			case tc.reason != "" && (d.event == nil || d.event.reason != tc.reason || (tc.message != "" && d.event.message != tc.message)):
				t.Errorf("event %+v, want %s %q", d.event, tc.reason, tc.message)
			}
			if (d.err != nil) != tc.wantErr {
				t.Errorf("err %v, want error %v", d.err, tc.wantErr)
			}
		})
	}
}

func TestWaitForConsumerEvent(t *testing.T) {
	tests := []struct {
		pods            []string
		reason, message string
	}{
		{nil, "WaitForFirstConsumer", "waiting for first consumer to be created before binding"},
		{[]string{"web-0"}, "WaitForPodScheduled", "waiting for pod web-0 to be scheduled"},
		{[]string{"a", "b"}, "WaitForPodScheduled", "waiting for pods a,b to be scheduled"},
	}
	for _, tc := range tests {
		e := waitForConsumerEvent(tc.pods)
		if e.eventType != corev1.EventTypeNormal || e.reason != tc.reason || e.message != tc.message {
			t.Errorf("pods %v: %+v", tc.pods, e)
		}
	}
}

func TestDecideVolume(t *testing.T) {
	claim := with(pvc("data", "2Gi", nil, rwo), func(c *corev1.PersistentVolumeClaim) { c.Spec.VolumeName = "v" })
	unboundClaim := pvc("data", "2Gi", nil, rwo)
	otherwiseBound := with(pvc("data", "2Gi", nil, rwo), func(c *corev1.PersistentVolumeClaim) { c.Spec.VolumeName = "other" })
	recreated := with(claim.DeepCopy(), func(c *corev1.PersistentVolumeClaim) { c.UID = "new" })
	policy := func(v *corev1.PersistentVolume, p corev1.PersistentVolumeReclaimPolicy) *corev1.PersistentVolume {
		v.Spec.PersistentVolumeReclaimPolicy = p
		return v
	}
	provisioned := func(v *corev1.PersistentVolume, by string) *corev1.PersistentVolume {
		v.Annotations = map[string]string{storagehelpers.AnnDynamicallyProvisioned: by}
		return v
	}
	bound := func() *corev1.PersistentVolume { return boundTo(pv("v", "2Gi", "", rwo), claim) }

	tests := []struct {
		name     string
		volume   *corev1.PersistentVolume
		claim    *corev1.PersistentVolumeClaim
		phase    corev1.PersistentVolumePhase
		reason   string
		message  string
		unbind   bool
		mismatch bool
	}{
		{name: "a free volume is Available", volume: pv("v", "2Gi", "", rwo), phase: corev1.VolumeAvailable},
		{name: "a volume pre-bound to a claim name is Available", volume: with(pv("v", "2Gi", "", rwo), func(v *corev1.PersistentVolume) {
			v.Spec.ClaimRef = &corev1.ObjectReference{Namespace: "ns", Name: "data"}
		}), phase: corev1.VolumeAvailable},
		{name: "a volume whose claim is bound to it is Bound", volume: bound(), claim: claim, phase: corev1.VolumeBound},
		{name: "a volume whose claim is not bound yet waits for the claim", volume: bound(), claim: unboundClaim},
		{name: "a volume whose claim cannot use its mode reports the mismatch", volume: with(bound(), func(v *corev1.PersistentVolume) {
			v.Spec.VolumeMode = ptr.To(corev1.PersistentVolumeBlock)
		}), claim: unboundClaim, mismatch: true},
		{name: "a Retain volume whose claim is gone is Released", volume: bound(), phase: corev1.VolumeReleased},
		{name: "a volume whose claim was recreated is Released", volume: bound(), claim: recreated, phase: corev1.VolumeReleased},
		{name: "a Failed volume whose claim is gone stays Failed", volume: with(bound(), func(v *corev1.PersistentVolume) {
			v.Status.Phase, v.Status.Message = corev1.VolumeFailed, "earlier"
		}), phase: corev1.VolumeFailed, message: "earlier"},
		{name: "a provisioned Delete volume is Released for its provisioner",
			volume: provisioned(policy(bound(), corev1.PersistentVolumeReclaimDelete), "skiff.dev/local-path"), phase: corev1.VolumeReleased},
		{name: "a static Delete volume cannot be deleted and Fails",
			volume: policy(bound(), corev1.PersistentVolumeReclaimDelete), phase: corev1.VolumeFailed, reason: "VolumeFailedDelete",
			message: `error getting deleter volume plugin for volume "v": no deletable volume plugin matched`},
		{name: "a Delete volume of an in-tree provisioner Fails",
			volume: provisioned(policy(bound(), corev1.PersistentVolumeReclaimDelete), "kubernetes.io/aws-ebs"), phase: corev1.VolumeFailed,
			reason: "VolumeFailedDelete", message: "no volume plugin matched name: kubernetes.io/aws-ebs"},
		{name: "a Recycle volume Fails", volume: policy(bound(), corev1.PersistentVolumeReclaimRecycle), phase: corev1.VolumeFailed,
			reason: "VolumeFailedRecycle", message: "No recycler plugin found for the volume!"},
		{name: "an unknown policy Fails", volume: policy(bound(), "Shred"), phase: corev1.VolumeFailed,
			reason: "VolumeUnknownReclaimPolicy", message: "Volume has unrecognized PersistentVolumeReclaimPolicy"},
		{name: "a provisioned volume whose claim took another is Released",
			volume: provisioned(policy(bound(), corev1.PersistentVolumeReclaimDelete), "skiff.dev/local-path"), claim: otherwiseBound,
			phase: corev1.VolumeReleased},
		{name: "a volume whose claim took another is unbound", volume: bound(), claim: otherwiseBound, unbind: true, phase: corev1.VolumeAvailable},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := decideVolume(tc.volume, tc.claim)
			if d.phase != tc.phase || d.unbind != tc.unbind || d.modeMismatch != tc.mismatch || d.message != tc.message {
				t.Errorf("decision %+v", d)
			}
			switch {
			case tc.reason == "" && d.event != nil:
				t.Errorf("unexpected event %+v", d.event)
			case tc.reason != "" && (d.event == nil || d.event.reason != tc.reason || d.event.message != tc.message ||
				d.event.eventType != corev1.EventTypeWarning):
				t.Errorf("event %+v, want %s %q", d.event, tc.reason, tc.message)
			}
		})
	}
}

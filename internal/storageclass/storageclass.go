// Package storageclass says which StorageClass is the cluster's default, the one a claim that names
// no class gets: the API server's DefaultStorageClass admission assigns it when a claim is created,
// and the persistentvolume controller assigns it afterwards to claims created before it existed.
package storageclass

import (
	"sort"

	storagev1 "k8s.io/api/storage/v1"
)

const (
	// IsDefaultAnnotation marks the default class with the value "true".
	IsDefaultAnnotation = "storageclass.kubernetes.io/is-default-class"
	// BetaIsDefaultAnnotation is its older name, still honoured.
	BetaIsDefaultAnnotation = "storageclass.beta.kubernetes.io/is-default-class"
)

// IsDefault says whether class is marked as a default class.
func IsDefault(class *storagev1.StorageClass) bool {
	return class.Annotations[IsDefaultAnnotation] == "true" || class.Annotations[BetaIsDefaultAnnotation] == "true"
}

// Default returns the default class among classes, nil if none is marked. When several are (while
// an administrator moves the mark), the newest wins, then the first by name, so that every
// component picks the same one.
func Default(classes []*storagev1.StorageClass) *storagev1.StorageClass {
	var defaults []*storagev1.StorageClass
	for _, class := range classes {
		if class != nil && IsDefault(class) {
			defaults = append(defaults, class)
		}
	}
	if len(defaults) == 0 {
		return nil
	}
	sort.Slice(defaults, func(i, j int) bool {
		ti, tj := defaults[i].CreationTimestamp.UnixNano(), defaults[j].CreationTimestamp.UnixNano()
		if ti != tj {
			return ti > tj
		}
		return defaults[i].Name < defaults[j].Name
	})
	return defaults[0]
}

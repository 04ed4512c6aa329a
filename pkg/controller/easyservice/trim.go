/*
Copyright The EasyService Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

	http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

package easyservice

import (
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The informers' transforms: what the controller keeps of each object it watches. They run on
// objects fresh from a watch or a list, before the informer stores them, and change them in place.

// TrimEasyServiceMetadata keeps of an EasyService's metadata, as the metadata informer delivers it,
// what the controller's event handlers and its listing of every EasyService read: its identity. Its
// managedFields, annotations and labels would be the larger part of the cache.
func TrimEasyServiceMetadata(obj any) (any, error) {
	if m, ok := obj.(*metav1.PartialObjectMetadata); ok {
		return &metav1.PartialObjectMetadata{TypeMeta: m.TypeMeta, ObjectMeta: metav1.ObjectMeta{
			Name: m.Name, Namespace: m.Namespace, UID: m.UID, ResourceVersion: m.ResourceVersion,
		}}, nil
	}
	return obj, nil
}

// TrimChild keeps what the controller needs of a Deployment or a Service. The informers watch every
// one, so that the controller knows without asking whether a child's name is taken: of an object
// without the managed-by label, only its identity, labels and owners are kept; of the controller's
// children, everything but the managedFields of other managers (the controller's own tell it what
// it applied).
func TrimChild(obj any) (any, error) {
	switch o := obj.(type) {
	case *appsv1.Deployment:
		if !isManaged(&o.ObjectMeta) {
			return &appsv1.Deployment{ObjectMeta: trimmedMeta(&o.ObjectMeta)}, nil
		}
		o.ManagedFields = ownManagedFields(o.ManagedFields)
	case *corev1.Service:
		if !isManaged(&o.ObjectMeta) {
			return &corev1.Service{ObjectMeta: trimmedMeta(&o.ObjectMeta)}, nil
		}
		o.ManagedFields = ownManagedFields(o.ManagedFields)
	}
	return obj, nil
}

func isManaged(m *metav1.ObjectMeta) bool {
	return m.Labels[LabelManagedBy] == ManagedBy
}

// trimmedMeta is the metadata the controller reads of an object whose rest it does not keep.
func trimmedMeta(m *metav1.ObjectMeta) metav1.ObjectMeta {
	return metav1.ObjectMeta{
		Name:              m.Name,
		Namespace:         m.Namespace,
		UID:               m.UID,
		ResourceVersion:   m.ResourceVersion,
		Generation:        m.Generation,
		DeletionTimestamp: m.DeletionTimestamp,
		Labels:            m.Labels,
		OwnerReferences:   m.OwnerReferences,
	}
}

// ownManagedFields returns the entries of the controller's field manager.
func ownManagedFields(entries []metav1.ManagedFieldsEntry) []metav1.ManagedFieldsEntry {
	var own []metav1.ManagedFieldsEntry
	for _, e := range entries {
		if e.Manager == FieldManager {
			own = append(own, e)
		}
	}
	return own
}

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

package conflicts

import (
	"fmt"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kubeinformers "k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	v1 "github.com/easyservice/easyservice/pkg/apis/easyservice/v1"
	clientset "github.com/easyservice/easyservice/pkg/generated/clientset/versioned"
	esinformers "github.com/easyservice/easyservice/pkg/generated/informers/externalversions"
)

// IndexNodePort indexes EasyServices and Services by each nodePort they hold.
const IndexNodePort = "nodePort"

// NewInformers returns the plugin's informers, which keep of each object only what the plugin
// reads (Trim), and a function that starts them. easyServices reaches this server (loopback), kube
// the cluster.
func NewInformers(easyServices clientset.Interface, kube kubernetes.Interface) (Informers, func(stop <-chan struct{}), error) {
	esFactory := esinformers.NewSharedInformerFactoryWithOptions(easyServices, 0, esinformers.WithTransform(Trim))
	kubeFactory := kubeinformers.NewSharedInformerFactoryWithOptions(kube, 0, kubeinformers.WithTransform(Trim))
	i := Informers{
		EasyServices: esFactory.App().V1().EasyServices().Informer(),
		Services:     kubeFactory.Core().V1().Services().Informer(),
		Deployments:  kubeFactory.Apps().V1().Deployments().Informer(),
	}
	for _, informer := range []cache.SharedIndexInformer{i.EasyServices, i.Services} {
		if err := informer.AddIndexers(cache.Indexers{IndexNodePort: indexNodePort}); err != nil {
			return Informers{}, nil, err
		}
	}
	start := func(stop <-chan struct{}) {
		esFactory.Start(stop)
		kubeFactory.Start(stop)
	}
	return i, start, nil
}

// indexNodePort returns the nodePorts an EasyService or a Service holds.
func indexNodePort(obj any) ([]string, error) {
	var ports []int32
	switch o := obj.(type) {
	case *v1.EasyService:
		for _, p := range o.Spec.Ports {
			ports = append(ports, p.NodePort)
		}
	case *corev1.Service:
		for _, p := range o.Spec.Ports {
			ports = append(ports, p.NodePort)
		}
	default:
		return nil, fmt.Errorf("indexing nodePorts of a %T", obj)
	}
	var keys []string
	for _, p := range ports {
		if p != 0 {
			keys = append(keys, strconv.Itoa(int(p)))
		}
	}
	return keys, nil
}

// Trim keeps of an object what the plugin reads: the name and the controller reference, and of an
// EasyService and a Service the nodePorts. Other objects pass unchanged.
func Trim(obj any) (any, error) {
	switch o := obj.(type) {
	case *v1.EasyService:
		t := &v1.EasyService{ObjectMeta: trimMeta(&o.ObjectMeta)}
		for _, p := range o.Spec.Ports {
			if p.NodePort != 0 {
				t.Spec.Ports = append(t.Spec.Ports, v1.EasyServicePort{NodePort: p.NodePort})
			}
		}
		return t, nil
	case *corev1.Service:
		t := &corev1.Service{ObjectMeta: trimMeta(&o.ObjectMeta)}
		for _, p := range o.Spec.Ports {
			if p.NodePort != 0 {
				t.Spec.Ports = append(t.Spec.Ports, corev1.ServicePort{NodePort: p.NodePort})
			}
		}
		return t, nil
	case *appsv1.Deployment:
		return &appsv1.Deployment{ObjectMeta: trimMeta(&o.ObjectMeta)}, nil
	}
	return obj, nil
}

func trimMeta(m *metav1.ObjectMeta) metav1.ObjectMeta {
	t := metav1.ObjectMeta{Name: m.Name, Namespace: m.Namespace, UID: m.UID, ResourceVersion: m.ResourceVersion}
	if ref := metav1.GetControllerOfNoCopy(m); ref != nil {
		t.OwnerReferences = []metav1.OwnerReference{*ref}
	}
	return t
}

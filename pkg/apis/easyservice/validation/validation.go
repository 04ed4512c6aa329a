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

// Package validation validates the internal EasyService types. It runs after defaulting, so it
// rejects what defaulting always fills in (an empty service type or port protocol) as missing.
package validation

import (
	"fmt"
	"slices"
	"strings"
	"unicode"

	corev1 "k8s.io/api/core/v1"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	utilnet "k8s.io/apimachinery/pkg/util/net"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/easyservice/easyservice/pkg/apis/easyservice"
)

// DefaultNodePortRange is the node port range of a cluster started with the kube-apiserver default
// --service-node-port-range, 30000-32767.
var DefaultNodePortRange = utilnet.PortRange{Base: 30000, Size: 2768}

// Options are the settings of the server that validation depends on.
type Options struct {
	// NodePortRange is the range a requested nodePort must fall in. A zero range means
	// DefaultNodePortRange.
	NodePortRange utilnet.PortRange
}

// DefaultOptions returns the options of a server started with the default flags.
func DefaultOptions() Options {
	return Options{NodePortRange: DefaultNodePortRange}
}

// nodePortRange returns the node port range of the options, or the default one if it is unset.
func (o Options) nodePortRange() utilnet.PortRange {
	if o.NodePortRange.Size == 0 {
		return DefaultNodePortRange
	}
	return o.NodePortRange
}

var (
	supportedPullPolicies = sets.New(corev1.PullAlways, corev1.PullNever, corev1.PullIfNotPresent)

	// ExternalName is not supported: such a Service has no selector, so it cannot front the pods.
	// Every supported type needs at least one port.
	supportedServiceTypes = sets.New(corev1.ServiceTypeClusterIP, corev1.ServiceTypeNodePort, corev1.ServiceTypeLoadBalancer)

	// nodePortServiceTypes are the service types that allocate a port on every node.
	nodePortServiceTypes = sets.New(corev1.ServiceTypeNodePort, corev1.ServiceTypeLoadBalancer)

	supportedPortProtocols = sets.New(corev1.ProtocolTCP, corev1.ProtocolUDP, corev1.ProtocolSCTP)

	// supportedEnvFieldPaths are the pod fields an environment variable may refer to, as for pods.
	supportedEnvFieldPaths = sets.New(
		"metadata.name",
		"metadata.namespace",
		"metadata.uid",
		"spec.nodeName",
		"spec.serviceAccountName",
		"status.hostIP",
		"status.hostIPs",
		"status.podIP",
		"status.podIPs",
	)

	// supportedEnvResourceFields are the container resources an environment variable may refer to.
	supportedEnvResourceFields = sets.New(
		"limits.cpu",
		"limits.memory",
		"limits.ephemeral-storage",
		"requests.cpu",
		"requests.memory",
		"requests.ephemeral-storage",
	)
)

// ValidateEasyService validates a new EasyService.
func ValidateEasyService(obj *easyservice.EasyService, opts Options) field.ErrorList {
	// The name also names the Deployment and the Service, so it must be a DNS-1035 label.
	allErrs := apimachineryvalidation.ValidateObjectMeta(&obj.ObjectMeta, true, apimachineryvalidation.NameIsDNS1035Label, field.NewPath("metadata"))
	allErrs = append(allErrs, ValidateEasyServiceSpec(&obj.Spec, field.NewPath("spec"), opts)...)
	return allErrs
}

// ValidateEasyServiceUpdate validates an update of an EasyService's metadata and spec.
func ValidateEasyServiceUpdate(newObj, oldObj *easyservice.EasyService, opts Options) field.ErrorList {
	allErrs := apimachineryvalidation.ValidateObjectMetaUpdate(&newObj.ObjectMeta, &oldObj.ObjectMeta, field.NewPath("metadata"))
	allErrs = append(allErrs, validateSpec(&newObj.Spec, &oldObj.Spec, field.NewPath("spec"), opts)...)
	return allErrs
}

// ValidateEasyServiceStatusUpdate validates an update of an EasyService's status.
func ValidateEasyServiceStatusUpdate(newObj, oldObj *easyservice.EasyService) field.ErrorList {
	allErrs := apimachineryvalidation.ValidateObjectMetaUpdate(&newObj.ObjectMeta, &oldObj.ObjectMeta, field.NewPath("metadata"))
	allErrs = append(allErrs, ValidateEasyServiceStatus(&newObj.Status, field.NewPath("status"))...)
	return allErrs
}

// ValidateEasyServiceSpec validates a defaulted EasyServiceSpec.
func ValidateEasyServiceSpec(spec *easyservice.EasyServiceSpec, fldPath *field.Path, opts Options) field.ErrorList {
	return validateSpec(spec, nil, fldPath, opts)
}

// validateSpec validates a defaulted EasyServiceSpec, on update against the stored oldSpec (nil on
// create): a rule tightened after objects were stored lets an update keep what the stored object
// already has, so that those objects stay updatable (labels, finalizers, the garbage collector).
func validateSpec(spec, oldSpec *easyservice.EasyServiceSpec, fldPath *field.Path, opts Options) field.ErrorList {
	allErrs := field.ErrorList{}
	allErrs = append(allErrs, apimachineryvalidation.ValidateNonnegativeField(int64(spec.Replicas), fldPath.Child("replicas"))...)
	allErrs = append(allErrs, validateImage(spec.Image, fldPath.Child("image"))...)
	allErrs = append(allErrs, validateEnum(spec.ImagePullPolicy, supportedPullPolicies, false, fldPath.Child("imagePullPolicy"))...)
	allErrs = append(allErrs, validateEnv(spec.Env, fldPath.Child("env"))...)
	allErrs = append(allErrs, validateResources(&spec.Resources, fldPath.Child("resources"))...)
	allErrs = append(allErrs, validateEnum(spec.ServiceType, supportedServiceTypes, true, fldPath.Child("serviceType"))...)
	allErrs = append(allErrs, validatePorts(spec.Ports, spec.ServiceType, storedTargetPortNames(oldSpec), fldPath.Child("ports"), opts)...)
	return allErrs
}

// storedTargetPortNames returns the named target ports of a stored spec, which an update may keep
// although a new object may not have them; nil for none.
func storedTargetPortNames(oldSpec *easyservice.EasyServiceSpec) sets.Set[string] {
	if oldSpec == nil {
		return nil
	}
	var names sets.Set[string]
	for _, p := range oldSpec.Ports {
		if p.TargetPort.Type == intstr.String {
			if names == nil {
				names = sets.New[string]()
			}
			names.Insert(p.TargetPort.StrVal)
		}
	}
	return names
}

// validateImage checks that the image is set and has no whitespace.
func validateImage(image string, fldPath *field.Path) field.ErrorList {
	allErrs := field.ErrorList{}
	switch {
	case len(image) == 0:
		allErrs = append(allErrs, field.Required(fldPath, ""))
	case len(strings.TrimSpace(image)) != len(image):
		allErrs = append(allErrs, field.Invalid(fldPath, image, "must not have leading or trailing whitespace"))
	case strings.ContainsFunc(image, unicode.IsSpace):
		allErrs = append(allErrs, field.Invalid(fldPath, image, "must not contain whitespace"))
	}
	return allErrs
}

// validateEnum checks that value is one of supported, or empty where that is allowed (required
// false): the field's default then applies downstream.
func validateEnum[T ~string](value T, supported sets.Set[T], required bool, fldPath *field.Path) field.ErrorList {
	switch {
	case len(value) == 0 && required:
		return field.ErrorList{field.Required(fldPath, "")}
	case len(value) != 0 && !supported.Has(value):
		return field.ErrorList{field.NotSupported(fldPath, value, sets.List(supported))}
	}
	return nil
}

// validatePorts checks every port and that ports, names and node ports are unique. storedNames are
// the named target ports an update may keep.
func validatePorts(ports []easyservice.EasyServicePort, serviceType corev1.ServiceType, storedNames sets.Set[string], fldPath *field.Path, opts Options) field.ErrorList {
	allErrs := field.ErrorList{}
	if len(ports) == 0 {
		if supportedServiceTypes.Has(serviceType) {
			allErrs = append(allErrs, field.Required(fldPath, fmt.Sprintf("at least one port is required for serviceType %s", serviceType)))
		}
		return allErrs
	}

	requireName := len(ports) > 1
	allNames := sets.New[string]()
	for i := range ports {
		allErrs = append(allErrs, validatePort(&ports[i], requireName, allNames, storedNames, fldPath.Index(i))...)
		allErrs = append(allErrs, validateNodePort(ports[i].NodePort, serviceType, fldPath.Index(i).Child("nodePort"), opts)...)
	}
	allErrs = append(allErrs, validateUniquePorts(ports, fldPath)...)
	allErrs = append(allErrs, validateUniqueNodePorts(ports, fldPath)...)
	return allErrs
}

// validatePort checks one port on its own, and records its name in allNames to find duplicates.
// storedNames are the named target ports an update may keep.
func validatePort(port *easyservice.EasyServicePort, requireName bool, allNames, storedNames sets.Set[string], fldPath *field.Path) field.ErrorList {
	allErrs := field.ErrorList{}

	namePath := fldPath.Child("name")
	if len(port.Name) == 0 {
		if requireName {
			allErrs = append(allErrs, field.Required(namePath, "must be set when there is more than one port"))
		}
	} else {
		for _, msg := range validation.IsValidPortName(port.Name) {
			allErrs = append(allErrs, field.Invalid(namePath, port.Name, msg))
		}
		if allNames.Has(port.Name) {
			allErrs = append(allErrs, field.Duplicate(namePath, port.Name))
		}
		allNames.Insert(port.Name)
	}

	for _, msg := range validation.IsValidPortNum(int(port.Port)) {
		allErrs = append(allErrs, field.Invalid(fldPath.Child("port"), port.Port, msg))
	}

	allErrs = append(allErrs, validateEnum(port.Protocol, supportedPortProtocols, true, fldPath.Child("protocol"))...)
	allErrs = append(allErrs, validateTargetPort(port.TargetPort, storedNames, fldPath.Child("targetPort"))...)

	if port.AppProtocol != nil {
		for _, msg := range validation.IsQualifiedName(*port.AppProtocol) {
			allErrs = append(allErrs, field.Invalid(fldPath.Child("appProtocol"), *port.AppProtocol, msg))
		}
	}
	return allErrs
}

// namedTargetPortMsg explains why a target port must be a number. A Service's named targetPort
// refers to a container port of that name, and the container's ports are the ones the controller
// declares, one per numeric targetPort: a name that is not one of those matches nothing and the
// Service routes nowhere, and one that is would only restate a number the spec already has.
const namedTargetPortMsg = "must be a number: an EasyService's container has only the ports its numeric targetPorts declare, so a name would route nowhere"

// validateTargetPort checks that a target port is a number 1-65535. A name is refused unless the
// stored object has it (storedNames; objects written before names were refused).
func validateTargetPort(port intstr.IntOrString, storedNames sets.Set[string], fldPath *field.Path) field.ErrorList {
	allErrs := field.ErrorList{}
	switch port.Type {
	case intstr.Int:
		for _, msg := range validation.IsValidPortNum(int(port.IntVal)) {
			allErrs = append(allErrs, field.Invalid(fldPath, port.IntVal, msg))
		}
	case intstr.String:
		if !storedNames.Has(port.StrVal) {
			allErrs = append(allErrs, field.Invalid(fldPath, port.StrVal, namedTargetPortMsg))
		}
	default:
		allErrs = append(allErrs, field.InternalError(fldPath, fmt.Errorf("unknown type %v", port.Type)))
	}
	return allErrs
}

// validateNodePort checks that a requested node port is allowed by the service type and falls in
// the node port range. Zero asks the cluster to allocate one.
func validateNodePort(nodePort int32, serviceType corev1.ServiceType, fldPath *field.Path, opts Options) field.ErrorList {
	allErrs := field.ErrorList{}
	if nodePort == 0 {
		return allErrs
	}
	switch {
	case serviceType == corev1.ServiceTypeClusterIP:
		allErrs = append(allErrs, field.Forbidden(fldPath, "may not be used when `serviceType` is 'ClusterIP'"))
	case nodePortServiceTypes.Has(serviceType):
		portRange := opts.nodePortRange()
		if !portRange.Contains(int(nodePort)) {
			allErrs = append(allErrs, field.Invalid(fldPath, nodePort, fmt.Sprintf("must be in the node port range %s", portRange.String())))
		}
	}
	// Any other service type is already reported as unsupported.
	return allErrs
}

// protocolPort is a port number with its protocol, the key that makes a port unique.
type protocolPort struct {
	port     int32
	protocol corev1.Protocol
}

// validateUniquePorts checks that no two ports have the same port number and protocol.
func validateUniquePorts(ports []easyservice.EasyServicePort, fldPath *field.Path) field.ErrorList {
	allErrs := field.ErrorList{}
	seen := sets.New[protocolPort]()
	for i := range ports {
		key := protocolPort{port: ports[i].Port, protocol: ports[i].Protocol}
		if seen.Has(key) {
			allErrs = append(allErrs, field.Duplicate(fldPath.Index(i), fmt.Sprintf("%d/%s", key.port, key.protocol)))
		}
		seen.Insert(key)
	}
	return allErrs
}

// validateUniqueNodePorts checks that no two ports request the same node port and protocol.
func validateUniqueNodePorts(ports []easyservice.EasyServicePort, fldPath *field.Path) field.ErrorList {
	allErrs := field.ErrorList{}
	seen := sets.New[protocolPort]()
	for i := range ports {
		if ports[i].NodePort == 0 {
			continue
		}
		key := protocolPort{port: ports[i].NodePort, protocol: ports[i].Protocol}
		if seen.Has(key) {
			allErrs = append(allErrs, field.Duplicate(fldPath.Index(i).Child("nodePort"), ports[i].NodePort))
		}
		seen.Insert(key)
	}
	return allErrs
}

// validateEnv checks the environment variables of the container and that their names are unique.
func validateEnv(vars []corev1.EnvVar, fldPath *field.Path) field.ErrorList {
	allErrs := field.ErrorList{}
	allNames := sets.New[string]()
	for i := range vars {
		allErrs = append(allErrs, validateEnvVar(&vars[i], allNames, fldPath.Index(i))...)
	}
	return allErrs
}

// validateEnvVar checks one environment variable, and records its name in allNames to find
// duplicates.
func validateEnvVar(ev *corev1.EnvVar, allNames sets.Set[string], fldPath *field.Path) field.ErrorList {
	allErrs := field.ErrorList{}
	namePath := fldPath.Child("name")
	if len(ev.Name) == 0 {
		allErrs = append(allErrs, field.Required(namePath, ""))
	} else {
		for _, msg := range validation.IsEnvVarName(ev.Name) {
			allErrs = append(allErrs, field.Invalid(namePath, ev.Name, msg))
		}
		if allNames.Has(ev.Name) {
			allErrs = append(allErrs, field.Duplicate(namePath, ev.Name))
		}
		allNames.Insert(ev.Name)
	}
	allErrs = append(allErrs, validateEnvVarSource(ev, fldPath.Child("valueFrom"))...)
	return allErrs
}

// validateEnvVarSource checks that valueFrom, when set, excludes value and has exactly one valid
// source.
func validateEnvVarSource(ev *corev1.EnvVar, fldPath *field.Path) field.ErrorList {
	allErrs := field.ErrorList{}
	src := ev.ValueFrom
	if src == nil {
		return allErrs
	}

	numSources := 0
	if src.FieldRef != nil {
		numSources++
		allErrs = append(allErrs, validateObjectFieldSelector(src.FieldRef, fldPath.Child("fieldRef"))...)
	}
	if src.ResourceFieldRef != nil {
		numSources++
		allErrs = append(allErrs, validateResourceFieldSelector(src.ResourceFieldRef, fldPath.Child("resourceFieldRef"))...)
	}
	if src.ConfigMapKeyRef != nil {
		numSources++
		allErrs = append(allErrs, validateKeySelector(src.ConfigMapKeyRef.Name, src.ConfigMapKeyRef.Key, fldPath.Child("configMapKeyRef"))...)
	}
	if src.SecretKeyRef != nil {
		numSources++
		allErrs = append(allErrs, validateKeySelector(src.SecretKeyRef.Name, src.SecretKeyRef.Key, fldPath.Child("secretKeyRef"))...)
	}
	if src.FileKeyRef != nil {
		numSources++
		// A file key refers to a volume of the pod, and an EasyService's pods have none.
		allErrs = append(allErrs, field.Forbidden(fldPath.Child("fileKeyRef"), "may not be used: an EasyService has no volumes"))
	}

	switch {
	case numSources == 0:
		allErrs = append(allErrs, field.Invalid(fldPath, "", "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`"))
	case len(ev.Value) != 0:
		allErrs = append(allErrs, field.Invalid(fldPath, "", "may not be specified when `value` is not empty"))
	case numSources > 1:
		allErrs = append(allErrs, field.Invalid(fldPath, "", "may not have more than one field specified at a time"))
	}
	return allErrs
}

// validateObjectFieldSelector checks that a field reference names a pod field that the downward
// API exposes to environment variables.
func validateObjectFieldSelector(sel *corev1.ObjectFieldSelector, fldPath *field.Path) field.ErrorList {
	allErrs := field.ErrorList{}
	pathPath := fldPath.Child("fieldPath")
	switch {
	case len(sel.FieldPath) == 0:
		allErrs = append(allErrs, field.Required(pathPath, ""))
	case isSubscriptedFieldPath(sel.FieldPath, "metadata.labels"), isSubscriptedFieldPath(sel.FieldPath, "metadata.annotations"):
		// A single label or annotation, such as metadata.labels['app'].
	case !supportedEnvFieldPaths.Has(sel.FieldPath):
		allErrs = append(allErrs, field.NotSupported(pathPath, sel.FieldPath, sets.List(supportedEnvFieldPaths)))
	}
	return allErrs
}

// isSubscriptedFieldPath reports whether fieldPath is prefix['key'] with a non-empty key.
func isSubscriptedFieldPath(fieldPath, prefix string) bool {
	rest, ok := strings.CutPrefix(fieldPath, prefix+"['")
	if !ok {
		return false
	}
	key, ok := strings.CutSuffix(rest, "']")
	return ok && len(key) != 0
}

// validateResourceFieldSelector checks that a resource reference names a container resource.
func validateResourceFieldSelector(sel *corev1.ResourceFieldSelector, fldPath *field.Path) field.ErrorList {
	allErrs := field.ErrorList{}
	resPath := fldPath.Child("resource")
	switch {
	case len(sel.Resource) == 0:
		allErrs = append(allErrs, field.Required(resPath, ""))
	case strings.HasPrefix(sel.Resource, "limits.hugepages-"), strings.HasPrefix(sel.Resource, "requests.hugepages-"):
	case !supportedEnvResourceFields.Has(sel.Resource):
		allErrs = append(allErrs, field.NotSupported(resPath, sel.Resource, sets.List(supportedEnvResourceFields)))
	}
	return allErrs
}

// validateKeySelector checks the name and key of a ConfigMap or Secret key reference.
func validateKeySelector(name, key string, fldPath *field.Path) field.ErrorList {
	allErrs := field.ErrorList{}
	for _, msg := range apimachineryvalidation.NameIsDNSSubdomain(name, false) {
		allErrs = append(allErrs, field.Invalid(fldPath.Child("name"), name, msg))
	}
	if len(key) == 0 {
		allErrs = append(allErrs, field.Required(fldPath.Child("key"), ""))
	} else {
		for _, msg := range validation.IsConfigMapKey(key) {
			allErrs = append(allErrs, field.Invalid(fldPath.Child("key"), key, msg))
		}
	}
	return allErrs
}

// validateResources checks the resource names and quantities, that no request exceeds its limit,
// and that no resource claim is used: the pods have no claims to refer to.
func validateResources(res *corev1.ResourceRequirements, fldPath *field.Path) field.ErrorList {
	allErrs := field.ErrorList{}
	limPath := fldPath.Child("limits")
	reqPath := fldPath.Child("requests")

	allErrs = append(allErrs, validateResourceList(res.Limits, limPath)...)
	allErrs = append(allErrs, validateResourceList(res.Requests, reqPath)...)

	for _, name := range sortedResourceNames(res.Requests) {
		request := res.Requests[name]
		limit, ok := res.Limits[name]
		if ok && request.Cmp(limit) > 0 {
			allErrs = append(allErrs, field.Invalid(reqPath.Key(string(name)), request.String(),
				fmt.Sprintf("must be less than or equal to %s limit of %s", name, limit.String())))
		}
	}

	if len(res.Claims) != 0 {
		allErrs = append(allErrs, field.Forbidden(fldPath.Child("claims"), "may not be used: an EasyService's pods have no resource claims"))
	}
	return allErrs
}

// validateResourceList checks that every resource name is a qualified name and every quantity is
// not negative.
func validateResourceList(list corev1.ResourceList, fldPath *field.Path) field.ErrorList {
	allErrs := field.ErrorList{}
	for _, name := range sortedResourceNames(list) {
		quantity := list[name]
		keyPath := fldPath.Key(string(name))
		for _, msg := range validation.IsQualifiedName(string(name)) {
			allErrs = append(allErrs, field.Invalid(keyPath, name, msg))
		}
		if quantity.Sign() < 0 {
			allErrs = append(allErrs, field.Invalid(keyPath, quantity.String(), apimachineryvalidation.IsNegativeErrorMsg))
		}
	}
	return allErrs
}

// sortedResourceNames returns the names of a resource list in order, so errors come in a stable order.
func sortedResourceNames(list corev1.ResourceList) []corev1.ResourceName {
	names := make([]corev1.ResourceName, 0, len(list))
	for name := range list {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// ValidateEasyServiceStatus validates an EasyServiceStatus.
func ValidateEasyServiceStatus(status *easyservice.EasyServiceStatus, fldPath *field.Path) field.ErrorList {
	allErrs := field.ErrorList{}
	allErrs = append(allErrs, validateStatusCounters(status, fldPath)...)
	allErrs = append(allErrs, validateStatusSelector(status.Selector, fldPath.Child("selector"))...)
	allErrs = append(allErrs, metav1validation.ValidateConditions(status.Conditions, fldPath.Child("conditions"))...)
	return allErrs
}

// validateStatusCounters checks that the generation and the replica counts are not negative and
// are consistent with each other.
func validateStatusCounters(status *easyservice.EasyServiceStatus, fldPath *field.Path) field.ErrorList {
	allErrs := field.ErrorList{}
	allErrs = append(allErrs, apimachineryvalidation.ValidateNonnegativeField(status.ObservedGeneration, fldPath.Child("observedGeneration"))...)
	allErrs = append(allErrs, apimachineryvalidation.ValidateNonnegativeField(int64(status.Replicas), fldPath.Child("replicas"))...)
	allErrs = append(allErrs, apimachineryvalidation.ValidateNonnegativeField(int64(status.UpdatedReplicas), fldPath.Child("updatedReplicas"))...)
	allErrs = append(allErrs, apimachineryvalidation.ValidateNonnegativeField(int64(status.ReadyReplicas), fldPath.Child("readyReplicas"))...)
	allErrs = append(allErrs, apimachineryvalidation.ValidateNonnegativeField(int64(status.AvailableReplicas), fldPath.Child("availableReplicas"))...)
	allErrs = append(allErrs, apimachineryvalidation.ValidateNonnegativeField(int64(status.UnavailableReplicas), fldPath.Child("unavailableReplicas"))...)

	if status.UpdatedReplicas > status.Replicas {
		allErrs = append(allErrs, field.Invalid(fldPath.Child("updatedReplicas"), status.UpdatedReplicas, "cannot be greater than status.replicas"))
	}
	if status.ReadyReplicas > status.Replicas {
		allErrs = append(allErrs, field.Invalid(fldPath.Child("readyReplicas"), status.ReadyReplicas, "cannot be greater than status.replicas"))
	}
	if status.AvailableReplicas > status.ReadyReplicas {
		allErrs = append(allErrs, field.Invalid(fldPath.Child("availableReplicas"), status.AvailableReplicas, "cannot be greater than status.readyReplicas"))
	}
	return allErrs
}

// validateStatusSelector checks that the selector, when set, is a label selector.
func validateStatusSelector(selector string, fldPath *field.Path) field.ErrorList {
	allErrs := field.ErrorList{}
	if len(selector) == 0 {
		return allErrs
	}
	if _, err := labels.Parse(selector); err != nil {
		allErrs = append(allErrs, field.Invalid(fldPath, selector, err.Error()))
	}
	return allErrs
}

"""The part of KServe's InferenceService CRD that a manifest of `kubeflow serve-manifest` touches,
written as a JSON schema from the CRD's own openAPIV3Schema: kserve/kserve
config/crd/full/serving.kserve.io_inferenceservices.yaml at tag v0.20.0 (commit
1fb781055dd1567164358233e1125142ca6ef1fe; the file last changed in 43ec86b5eb). Read with
`git show v0.20.0:config/crd/full/serving.kserve.io_inferenceservices.yaml`; nothing is copied.

What the CRD says, at the paths used:
- versions: one, `v1beta1`, served and stored; group serving.kserve.io, kind InferenceService,
  scope Namespaced.
- openAPIV3Schema: apiVersion string, kind string, metadata object, spec object, status object.
- spec: properties canary, explainer, predictor, transformer; required [predictor].
- spec.predictor: an object of 69 properties, none required; serviceAccountName string,
  minReplicas / maxReplicas integer (int32), model object, …
- spec.predictor.model: an object (a container plus the model's fields), none required; among its
  32 properties: modelFormat object {name string, version string; required [name]},
  protocolVersion string, runtime string, runtimeVersion string, storageUri string, resources
  object {claims, limits, requests}, env array, args array.

The CRD marks no object `additionalProperties: false`: an API server prunes unknown fields
silently, or refuses them with strict field validation (kubectl's default). Either way a field the
CRD does not define does nothing, so this schema refuses any field outside the lists below, which
are the CRD's own property names at each level."""

from typing import Any, Dict

import jsonschema

# Property names of spec.predictor.model in the CRD (v0.20.0), all of them.
MODEL_FIELDS = (
  'args command confidential env envFrom image imagePullPolicy lifecycle livenessProbe '
  'modelFormat name ports protocolVersion readinessProbe resizePolicy resources restartPolicy '
  'restartPolicyRules runtime runtimeVersion securityContext startupProbe stdin stdinOnce storage '
  'storageUri terminationMessagePath terminationMessagePolicy tty volumeDevices volumeMounts '
  'workingDir'
).split()
# Property names of spec.predictor this project may write (each is in the CRD, v0.20.0).
PREDICTOR_FIELDS = ('model', 'serviceAccountName', 'minReplicas', 'maxReplicas', 'timeout')

_STRING = {'type': 'string'}
_MODEL = {
  'type': 'object',
  'properties': {
    'modelFormat': {
      'type': 'object',
      'properties': {'name': _STRING, 'version': _STRING},
      'required': ['name'],
      'additionalProperties': False,
    },
    'protocolVersion': _STRING,
    'runtime': _STRING,
    'runtimeVersion': _STRING,
    'storageUri': _STRING,
    'name': _STRING,
  },
  'additionalProperties': False,
}
SCHEMA: Dict[str, Any] = {
  'type': 'object',
  'properties': {
    'apiVersion': {'type': 'string', 'const': 'serving.kserve.io/v1beta1'},
    'kind': {'type': 'string', 'const': 'InferenceService'},
    'metadata': {
      'type': 'object',
      'properties': {'name': _STRING, 'namespace': _STRING},
      'required': ['name'],
      'additionalProperties': False,
    },
    'spec': {
      'type': 'object',
      'properties': {
        'predictor': {
          'type': 'object',
          'properties': {
            'model': _MODEL,
            'serviceAccountName': _STRING,
            'minReplicas': {'type': 'integer', 'minimum': -(2**31), 'maximum': 2**31 - 1},
            'maxReplicas': {'type': 'integer', 'minimum': -(2**31), 'maximum': 2**31 - 1},
            'timeout': {'type': 'integer'},
          },
          'additionalProperties': False,
        }
      },
      'required': ['predictor'],
      'additionalProperties': False,
    },
  },
  'required': ['apiVersion', 'kind', 'metadata', 'spec'],
  'additionalProperties': False,
}


def errors(manifest: Dict[str, Any]):
  """Every way `manifest` breaks the schema, as 'path: message' strings ([] when valid)."""
  validator = jsonschema.Draft7Validator(SCHEMA)
  return sorted(
    f'{"/".join(str(p) for p in e.absolute_path) or "(top)"}: {e.message}'
    for e in validator.iter_errors(manifest)
  )

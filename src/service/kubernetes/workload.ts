/** The parts of a StatefulSet/Deployment (and its pods) synup reads. */
export interface Probe {
  exec?: unknown;
  httpGet?: unknown;
  tcpSocket?: unknown;
  grpc?: unknown;
  initialDelaySeconds?: number;
  periodSeconds?: number;
  failureThreshold?: number;
  timeoutSeconds?: number;
}

export interface Container {
  name: string;
  image?: string;
  startupProbe?: Probe;
  livenessProbe?: Probe;
  volumeMounts?: { name: string; mountPath: string; subPath?: string }[];
  securityContext?: Record<string, unknown>;
}

interface PodSpec {
  containers?: Container[];
  volumes?: { name: string; persistentVolumeClaim?: { claimName: string } }[];
  securityContext?: Record<string, unknown>;
  nodeSelector?: Record<string, string>;
  tolerations?: unknown[];
  imagePullSecrets?: unknown[];
}

export interface Workload {
  metadata?: { name?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec?: {
    replicas?: number;
    selector?: { matchLabels?: Record<string, string>; matchExpressions?: unknown[] };
    strategy?: { type?: string };
    template?: { spec?: PodSpec };
    volumeClaimTemplates?: { metadata?: { name?: string } }[];
  };
  status?: { readyReplicas?: number };
}

export interface Pod {
  metadata?: { name?: string; uid?: string };
  spec?: { nodeName?: string };
  status?: { phase?: string; containerStatuses?: { name: string; restartCount?: number; state?: { waiting?: { reason?: string } } }[] };
}

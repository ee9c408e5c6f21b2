/**
 * Identifier and code system URIs of the district's FHIR facade. They are stable names, not
 * resolvable pages: third parties match on them. Where a national OID exists but no normative
 * text was at hand, a local URI is used and documented (see central/README.md, FHIR section).
 */
const BASE = 'http://district-health.cn/fhir';

export const SID = {
  /** The warehouse's resident key (EMPI person id once [central] EMPI lands). */
  residentId: `${BASE}/sid/resident-id`,
  /** EMPI person id: one person across clinics (central/empi). Searching by it finds every resident of the person. */
  empiPerson: `${BASE}/sid/empi-person`,
  /** 18-digit resident identity card number (GB 11643), ID document type 01. */
  idCard: `${BASE}/sid/cn-id-card`,
  /** Other ID documents (CV02.01.101 types 02–99): `${idDocument}/<type code>`. */
  idDocument: `${BASE}/sid/cn-id-document`,
  /** Social medical insurance card number. */
  insuranceCard: `${BASE}/sid/cn-medical-insurance-card`,
  /** Electronic health card (电子健康卡) id. */
  healthCard: `${BASE}/sid/cn-ehealth-card`,
  /** A record id minted by a clinic edge: `${record}/<clinicId>/<type>`. */
  record: `${BASE}/sid/record`,
  /** Clinic (institution) ids as enrolled by provisioning. */
  clinic: `${BASE}/sid/clinic`,
  /** Staff codes from the central staff dictionary. */
  staff: `${BASE}/sid/staff`,
  /** Specimen (barcode) ids of a clinic: `${specimen}/<clinicId>`. */
  specimen: `${BASE}/sid/specimen`,
  /** Imaging accession numbers of a clinic: `${accession}/<clinicId>`. */
  accession: `${BASE}/sid/accession`,
  /** Device ids from the clinic's device registry. */
  device: `${BASE}/sid/device`,
} as const;

export const CS = {
  loinc: 'http://loinc.org',
  ucum: 'http://unitsofmeasure.org',
  /** Local lab/observation codes where no LOINC mapping exists. */
  localObservation: `${BASE}/CodeSystem/local-observation`,
  /** Local lab test codes where no LOINC mapping exists. */
  localLab: `${BASE}/CodeSystem/local-lab`,
  /** ICD-10 national clinical edition 2.0 (国家临床版2.0). */
  icd10Cn: `${BASE}/CodeSystem/icd-10-cn-clinical-2.0`,
  departments: `${BASE}/CodeSystem/departments`,
  /** National drug codes (药品本位码) of prescriptions. */
  cnDrug: `${BASE}/CodeSystem/cn-drug-code`,
  /** GB/T 2261.1 sex, GB/T 2261.2 marital status, GB 3304 ethnicity. */
  gbSex: `${BASE}/CodeSystem/gb-t-2261.1`,
  gbMarital: `${BASE}/CodeSystem/gb-t-2261.2`,
  gbEthnicity: `${BASE}/CodeSystem/gb-3304`,
  dicomDcm: 'http://dicom.nema.org/resources/ontology/DCM',
  v3ActCode: 'http://terminology.hl7.org/CodeSystem/v3-ActCode',
  v3Marital: 'http://terminology.hl7.org/CodeSystem/v3-MaritalStatus',
  v3NullFlavor: 'http://terminology.hl7.org/CodeSystem/v3-NullFlavor',
  v3Interpretation: 'http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation',
  observationCategory: 'http://terminology.hl7.org/CodeSystem/observation-category',
} as const;

export const EXT = {
  ethnicity: `${BASE}/StructureDefinition/ethnicity`,
} as const;

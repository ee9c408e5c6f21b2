/**
 * The clinical workstations module ([clinic] issue): doctor's queue and visit (SOAP note,
 * ICD-10 diagnoses, prescriptions, lab and imaging orders, signing), the resident's history,
 * fever/diarrhoea/dog-bite registers and notifiable-disease reminders; the nurse's execution
 * list, bottle labels, scan-to-confirm and vital signs. Migrations 350-399.
 */
import type { EdgeModule } from '../../modules.ts';
import { clinicalMigrations } from './migrations.ts';
import { DOCTOR_ROLES, NURSE_ROLES, mountClinicalUi } from './routes.tsx';
import { ClinicalService } from './service.ts';

/** Running services by clinic id (tests and the demo seed in the same process). */
export const clinicalByStore = new Map<string, ClinicalService>();

export const clinicalModule: EdgeModule = {
  name: 'clinical',
  migrations: clinicalMigrations,
  nav: [
    { href: '/clinic/doctor', label: { 'zh-CN': '医生工作站', en: 'Doctor' }, roles: DOCTOR_ROLES },
    { href: '/clinic/nurse', label: { 'zh-CN': '护士工作站', en: 'Nurse' }, roles: NURSE_ROLES },
  ],
  async start(ctx) {
    const s = new ClinicalService(ctx.store);
    mountClinicalUi(ctx, s);
    clinicalByStore.set(ctx.store.clinicId, s);
    return {
      stop: async () => { clinicalByStore.delete(ctx.store.clinicId); },
      health: () => ({ ok: true }),
    };
  },
};

export { seedClinicalDemo } from './seed.ts';

import t from 'tap';
import { decodeText, encodingFor } from './charset.ts';
import { headerFields, Tag } from './instance-meta.ts';

const zhangsan = Buffer.from([0xd5, 0xc5, 0xc8, 0xfd]);

t.test('Chinese character sets', async (t) => {
  t.equal(decodeText(zhangsan, 'GB18030'), '张三');
  t.equal(decodeText(zhangsan, 'GBK'), '张三', 'non-standard GBK label');
  t.equal(decodeText(zhangsan, 'gbk '), '张三');
  t.equal(decodeText(Buffer.from('张三', 'utf8'), 'ISO_IR 192'), '张三');
  // ISO 2022 IR 58: ESC $ ) A designates GB2312 into G1
  t.equal(decodeText(Buffer.concat([Buffer.from('ZHANG^SAN='), Buffer.from([0x1b, 0x24, 0x29, 0x41]), zhangsan]), '\\ISO 2022 IR 58'), 'ZHANG^SAN=张三');
  t.equal(decodeText(Buffer.from([0x81, 0x30, 0x81, 0x30]), 'GB18030'), '\u0080', 'four-byte GB18030');
  t.equal(encodingFor(undefined), 'latin1');
  t.equal(decodeText(Buffer.from('M\xfcller  ', 'latin1'), 'ISO_IR 100'), 'Müller');
});

t.test('header fields decode text by the instance charset, ASCII VRs as ASCII', async (t) => {
  const values = new Map<number, Buffer>([
    [Tag.SpecificCharacterSet, Buffer.from('GB18030 ')],
    [Tag.PatientName, zhangsan],
    [Tag.StudyInstanceUid, Buffer.from('1.2.3\0')],
    [Tag.NumberOfFrames, Buffer.from('12')],
  ]);
  t.same(headerFields(values), { specificCharacterSet: 'GB18030', patientName: '张三', studyInstanceUid: '1.2.3', numberOfFrames: 12 });
});

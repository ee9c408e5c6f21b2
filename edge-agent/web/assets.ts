/** The UI's stylesheet, served from the package (the private network has no CDN). */
export const css = `
:root { --blue:#1d5fa7; --bg:#f4f6f9; --line:#d9dee6; --ok:#1f8a4c; --warn:#b7791f; --bad:#c0392b; }
* { box-sizing: border-box; }
body { margin:0; font: 15px/1.6 "Noto Sans CJK SC","Microsoft YaHei","PingFang SC",sans-serif; background:var(--bg); color:#1f2933; }
header { background:var(--blue); color:#fff; display:flex; align-items:center; gap:8px 24px; padding:6px 20px; min-height:52px; flex-wrap:wrap; }
header .brand { white-space:nowrap; }
header .brand { font-weight:700; font-size:17px; }
header nav a { color:#dfe9f5; text-decoration:none; margin-right:16px; }
header nav a.on, header nav a:hover { color:#fff; border-bottom:2px solid #fff; padding-bottom:4px; }
header .who { margin-left:auto; font-size:14px; }
header .who a, header .who button { color:#fff; background:none; border:1px solid #ffffff80; border-radius:4px; padding:2px 10px; margin-left:8px; cursor:pointer; font:inherit; text-decoration:none; }
main { max-width:1100px; margin:24px auto; padding:0 20px; }
h1 { font-size:22px; margin:0 0 16px; }
.card { background:#fff; border:1px solid var(--line); border-radius:8px; padding:18px 20px; margin-bottom:18px; }
.grid { display:grid; grid-template-columns:repeat(auto-fit,minmax(200px,1fr)); gap:14px; }
.stat .label { color:#52606d; font-size:13px; } .stat .value { font-size:26px; font-weight:600; }
.badge { display:inline-block; padding:1px 10px; border-radius:10px; font-size:13px; color:#fff; }
.badge.ok { background:var(--ok); } .badge.warn { background:var(--warn); } .badge.bad { background:var(--bad); }
table { width:100%; border-collapse:collapse; background:#fff; } th, td { text-align:left; padding:8px 10px; border-bottom:1px solid var(--line); font-size:14px; }
th { background:#eef2f7; font-weight:600; }
form.stack label { display:block; margin:10px 0 4px; font-size:14px; color:#3e4c59; }
input, select { font:inherit; padding:7px 10px; border:1px solid #b8c2cc; border-radius:5px; width:100%; max-width:360px; }
a.button { display:inline-block; background:#fff; color:var(--blue); border:1px solid var(--blue); border-radius:5px; padding:3px 12px; font-size:14px; text-decoration:none; }
button.primary { display:block; background:var(--blue); color:#fff; border:0; border-radius:5px; padding:8px 22px; font:inherit; cursor:pointer; margin-top:14px; }
.error { color:var(--bad); background:#fdecea; border:1px solid #f5c6cb; padding:8px 12px; border-radius:5px; margin:10px 0; }
.notice { color:#0b5132; background:#e6f4ea; border:1px solid #b7dfc3; padding:8px 12px; border-radius:5px; margin:10px 0; }
.maint { color:#5c4400; background:#fff6dc; border:1px solid #efd48b; padding:8px 12px; border-radius:5px; margin:10px 0; }
.maint p { margin:2px 0; }
.login { max-width:380px; margin:80px auto; }
.hint { color:#52606d; font-size:13px; }
header .syncpill { font-size:13px; color:#fff; text-decoration:none; border-radius:10px; padding:1px 10px; white-space:nowrap; }
header .syncpill.ok { background:#1f8a4c; } header .syncpill.off { background:#c0392b; }
`;

// carehub monitoring dashboard: region drill-down over `indicators`, ECharts charts, overdue
// warnings for roles with row access, and live updates over graphql-transport-ws.
// Plain browser JavaScript, no build step; everything is served by the carehub binary.
(function () {
  "use strict";

  // ---------------------------------------------------------------------------------------
  // Labels: Chinese on the page, English in the title attribute.

  const AGENCY = {
    CIVIL_AFFAIRS: ["民政", "Civil affairs"], EDUCATION: ["教育", "Education"], HEALTH: ["卫生健康", "Health"],
    YOUTH_LEAGUE: ["共青团", "Youth league"], WOMENS_FEDERATION: ["妇联", "Women's federation"],
    SUPERVISION: ["督导", "Supervision"], PARTNER: ["合作方", "Partner"],
  };
  const LEVEL = {
    PROVINCE: ["省级", "Province"], CITY: ["市级", "City"], COUNTY: ["县级", "County"],
    TOWNSHIP: ["乡镇", "Township"], VILLAGE: ["村/社区", "Village"],
  };
  const PREFIX_LEN = { PROVINCE: 2, CITY: 4, COUNTY: 6, TOWNSHIP: 9, VILLAGE: 12 };
  const RISK = {
    GREEN: ["绿色", "Green (low)", "#2e9d5b"], YELLOW: ["黄色", "Yellow (watch)", "#e0b020"],
    ORANGE: ["橙色", "Orange (high)", "#e7772a"], RED: ["红色", "Red (crisis)", "#cc2f2f"],
    UNSCREENED: ["未筛查", "Not screened", "#a9b3c1"],
  };
  const FLAG = {
    OVERDUE_VISIT: ["走访逾期", "Overdue visit"], OVERDUE_FOLLOW_UP: ["随访逾期", "Overdue follow-up"],
    REPORT_OVERDUE: ["报告逾期未办结", "Report past its deadline"], RED_WITHOUT_PLAN: ["红色无关爱方案", "RED without a care plan"],
    REFERRAL_SLA_BREACH: ["转介超时", "Referral past its SLA"], MISSING_SCREENING: ["未按期筛查", "Screening missing"],
    SUSPECTED_DUPLICATE: ["疑似重复", "Suspected duplicate"], MANUAL: ["人工预警", "Manual flag"],
  };
  const OVERDUE_FLAGS = ["OVERDUE_VISIT", "OVERDUE_FOLLOW_UP", "REPORT_OVERDUE", "RED_WITHOUT_PLAN", "REFERRAL_SLA_BREACH", "MISSING_SCREENING"];
  const CATEGORY = {
    ABUSE: ["虐待", "Abuse"], BEHAVIOURAL: ["行为问题", "Behavioural"], BULLYING: ["欺凌", "Bullying"],
    DOMESTIC_VIOLENCE: ["家庭暴力", "Domestic violence"], NEGLECT: ["忽视", "Neglect"], OTHER: ["其他", "Other"],
    PSYCHOLOGICAL: ["心理问题", "Psychological"], SELF_HARM_RISK: ["自伤风险", "Self-harm risk"], SEXUAL_ABUSE: ["性侵害", "Sexual abuse"],
  };
  const URGENCY = { ROUTINE: ["常规", "Routine"], URGENT: ["紧急", "Urgent"] };

  // ---------------------------------------------------------------------------------------
  // GraphQL documents.

  const Q_ME = "{ me { sub role agency regionCode purpose } }";
  const VAL = "value numerator denominator suppressed";
  const CNT = "count suppressed";
  const STAT = "value count suppressed";
  const REGION_FIELDS = `regionCode name level
    population { ${CNT} } screeningCoverage { ${VAL} } highRiskPlanCoverage { ${VAL} }
    planApprovalDays { ${STAT} } homeVisitCoverage { ${VAL} } overdueFollowUps { ${VAL} }
    overdueOpen { ${CNT} } inTreatment { ${CNT} } reportsFiled { ${CNT} } reportsOverdue { ${CNT} }
    crisisResponse { medianHours { ${STAT} } p90Hours { ${STAT} } within24h { ${VAL} } }
    referralTurnaround { medianHours { ${STAT} } withinSla { ${VAL} } acceptance { ${VAL} } sent { ${CNT} } }
    referralClosure { up { ${VAL} } down { ${VAL} } }
    postDischargeFollowUp { ${VAL} } returnToSchool { ${VAL} }
    reportTimeliness { within24h { ${VAL} } upTo1Day { ${CNT} } days1To3 { ${CNT} } days3To7 { ${CNT} } over7Days { ${CNT} } }
    riskDistribution { green { ${CNT} } yellow { ${CNT} } orange { ${CNT} } red { ${CNT} } unscreened { ${CNT} } }`;
  const Q_INDICATORS = `query Indicators($code: String!, $period: IndicatorPeriodInput) {
    indicators(regionCode: $code, period: $period) {
      disclosureControl period { schoolYear from to asOf }
      region { ${REGION_FIELDS} }
      subregions { ${REGION_FIELDS} }
    } }`;
  const Q_OVERDUE = `query Overdue($code: String!) {
    children(filter: { regionCode: $code, status: ACTIVE }, first: 200, orderBy: { currentRiskLevel: DESC }) {
      totalCount
      nodes { id displayName currentRiskLevel residenceRegionCode keyCase
        flags(first: 20) { kind message raisedAt resolvedAt } }
    } }`;
  const S_REPORTS = "subscription($code: String!) { reportRaised(regionCode: $code) { id category urgency status reportedAt dueBy } }";
  const S_INDICATORS = "subscription($code: String!) { indicatorsChanged(regionCode: $code) { regionCode at } }";

  // ---------------------------------------------------------------------------------------
  // State.

  const TOKEN_KEY = "carehub.dashboard.token";
  const state = {
    token: null, me: null, roles: {}, path: [], period: null,
    newReports: 0, ws: null, wsRetry: 0, subs: {}, refetchTimer: null, loadSeq: 0,
  };
  const charts = {};
  const $ = (id) => document.getElementById(id);

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === "class") e.className = v;
      else if (k === "text") e.textContent = v;
      else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
      else if (k === "dataset") Object.assign(e.dataset, v);
      else e.setAttribute(k, v === true ? "" : v);
    }
    for (const c of children.flat()) {
      if (c === null || c === undefined) continue;
      e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return e;
  }
  const zh = (table, key) => (table[key] || [key, key])[0];
  const en = (table, key) => (table[key] || [key, key])[1];
  const prefix = (code, level) => code.slice(0, PREFIX_LEN[level] || 12);

  // ---------------------------------------------------------------------------------------
  // HTTP.

  async function gql(query, variables) {
    const res = await fetch("/graphql", {
      method: "POST",
      headers: {
        "Content-Type": "application/json",
        Accept: "application/graphql-response+json, application/json",
        Authorization: "Bearer " + state.token,
      },
      body: JSON.stringify({ query, variables: variables || {} }),
    });
    let body;
    try { body = await res.json(); } catch (_) { throw new Error("HTTP " + res.status); }
    const errors = body.errors || [];
    if (errors.some((e) => e.extensions && e.extensions.code === "UNAUTHENTICATED")) {
      signOut(errors[0].message);
      throw new Error(errors[0].message);
    }
    if (!body.data && errors.length) throw new Error(errors.map((e) => e.message).join("; "));
    return body;
  }

  // ---------------------------------------------------------------------------------------
  // Sign-in.

  function showError(id, message) {
    const p = $(id);
    p.textContent = message || "";
    p.hidden = !message;
  }

  async function signIn(token) {
    state.token = token.trim();
    showError("signin-error", "");
    try {
      const body = await gql(Q_ME);
      if (!body.data || !body.data.me) throw new Error("令牌无效 (invalid token)");
      state.me = body.data.me;
    } catch (e) {
      state.token = null;
      showError("signin-error", "登录失败 (sign-in failed): " + e.message);
      return;
    }
    sessionStorage.setItem(TOKEN_KEY, state.token);
    const me = state.me;
    const roleZh = state.roles[me.role] ? state.roles[me.role].titleZh : me.role;
    const who = $("who");
    who.textContent = `${zh(AGENCY, me.agency)} · ${roleZh} · 辖区 ${me.regionCode}`;
    who.title = `${en(AGENCY, me.agency)} · ${me.role} · jurisdiction ${me.regionCode} · purpose ${me.purpose}`;
    $("signin").hidden = true;
    $("session").hidden = false;
    $("dash").hidden = false;
    state.path = [];
    connectLive();
    await openRegion(me.regionCode, true);
  }

  function signOut(reason) {
    sessionStorage.removeItem(TOKEN_KEY);
    state.token = null;
    state.me = null;
    if (state.ws) { state.ws.onclose = null; state.ws.close(1000, "sign out"); state.ws = null; }
    setLive("off");
    $("dash").hidden = true;
    $("session").hidden = true;
    $("signin").hidden = false;
    showError("signin-error", reason ? "已退出 (signed out): " + reason : "");
  }

  async function loadDemoRoles() {
    try {
      const res = await fetch("/dashboard/dev-roles");
      if (!res.ok) return; // production: no demo roles
      const body = await res.json();
      const select = $("demo-role");
      select.textContent = "";
      for (const r of body.roles) {
        state.roles[r.role] = r;
        if (r.agency === "PARTNER") continue; // partners use client credentials, not this page
        select.append(el("option", { value: r.role, title: `${r.title} (${r.role})` }, `${zh(AGENCY, r.agency)} · ${r.titleZh}`));
      }
      select.value = "civil_affairs.case_officer";
      $("demo").hidden = false;
    } catch (_) { /* the picker is a convenience only */ }
  }

  async function demoSignIn(ev) {
    ev.preventDefault();
    showError("signin-error", "");
    const res = await fetch("/dashboard/dev-token", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ role: $("demo-role").value, region: $("demo-region").value }),
    });
    const body = await res.json().catch(() => ({}));
    if (!res.ok || !body.token) {
      showError("signin-error", "无法生成演示令牌 (cannot mint a demo token): " + ((body.errors && body.errors[0].message) || res.status));
      return;
    }
    await signIn(body.token);
  }

  // ---------------------------------------------------------------------------------------
  // Region drill-down.

  async function openRegion(code, reset) {
    const seq = ++state.loadSeq;
    showError("dash-error", "");
    let body;
    try {
      body = await gql(Q_INDICATORS, { code, period: state.period });
    } catch (e) {
      showError("dash-error", "指标加载失败 (indicators failed to load): " + e.message);
      return;
    }
    if (seq !== state.loadSeq) return; // a newer request superseded this one
    const ind = body.data && body.data.indicators;
    if (!ind || !ind.region) {
      showError("dash-error", "无权查看该辖区或辖区不存在 (region outside your jurisdiction or unknown)");
      return;
    }
    const region = ind.region;
    const key = prefix(region.regionCode, region.level);
    const changed = !state.path.length || prefix(state.path[state.path.length - 1].regionCode, state.path[state.path.length - 1].level) !== key;
    if (reset) state.path = [];
    const at = state.path.findIndex((r) => prefix(r.regionCode, r.level) === key);
    if (at >= 0) state.path = state.path.slice(0, at + 1);
    else state.path.push({ regionCode: region.regionCode, name: region.name, level: region.level });
    state.current = ind;
    if (changed || reset) {
      state.newReports = 0;
      renderCounter(false);
      $("feed").replaceChildren(el("li", { class: "muted empty", title: "No new reports yet" }, "暂无新报告"));
      subscribeRegion(key);
    }
    render(ind);
    loadOverdue(key, ind.disclosureControl);
  }

  function currentPrefix() {
    const r = state.path[state.path.length - 1];
    return r ? prefix(r.regionCode, r.level) : null;
  }

  function refetchSoon() {
    clearTimeout(state.refetchTimer);
    state.refetchTimer = setTimeout(() => {
      const code = currentPrefix();
      if (code) openRegion(code, false);
    }, 300);
  }

  // ---------------------------------------------------------------------------------------
  // Rendering.

  const SUPP_TITLE = "Suppressed: a count from 1 to 4, or complementary suppression (statistical disclosure control)";

  function num(c) {
    if (!c) return el("span", { class: "muted", title: "Not available" }, "—");
    if (c.suppressed) return el("span", { class: "supp", title: SUPP_TITLE }, "≤4");
    if (c.count === null || c.count === undefined) return el("span", { class: "muted", title: "No data" }, "—");
    return document.createTextNode(c.count.toLocaleString("zh-CN"));
  }
  function pct(v, withBar) {
    if (!v) return el("span", { class: "muted", title: "Not available" }, "—");
    if (v.suppressed) return el("span", { class: "supp", title: SUPP_TITLE }, "已抑制");
    if (v.value === null || v.value === undefined) return el("span", { class: "muted", title: "No cases in the period (denominator 0)" }, "—");
    const p = (v.value * 100).toFixed(1) + "%";
    const frac = v.numerator !== null && v.numerator !== undefined ? `${v.numerator}/${v.denominator}` : "";
    const span = el("span", { title: frac ? `${frac} (numerator/denominator)` : null }, p);
    if (!withBar) return span;
    const bar = el("span", { class: "bar" }, el("i"));
    bar.firstChild.style.width = Math.max(0, Math.min(100, v.value * 100)) + "%";
    return el("span", {}, span, bar);
  }
  function stat(s, unit) {
    if (!s) return el("span", { class: "muted", title: "Not available" }, "—");
    if (s.suppressed) return el("span", { class: "supp", title: SUPP_TITLE }, "已抑制");
    if (s.value === null || s.value === undefined) return el("span", { class: "muted", title: "No cases" }, "—");
    return el("span", { title: `n = ${s.count}` }, `${s.value.toFixed(1)} ${unit}`);
  }
  const fmtPct = (v) => (!v ? "—" : v.suppressed ? "已抑制" : v.value === null || v.value === undefined ? "—" : (v.value * 100).toFixed(1) + "%");
  const fmtCnt = (c) => (!c ? "—" : c.suppressed ? "≤4" : c.count === null || c.count === undefined ? "—" : c.count.toLocaleString("zh-CN"));

  function render(ind) {
    renderCrumbs();
    renderPeriod(ind.period);
    $("sdc-notice").hidden = !ind.disclosureControl;
    renderKpis(ind.region);
    renderRiskChart(ind.region);
    renderCoverageChart(ind.subregions || [], ind.region);
    renderSubTable(ind.subregions || [], ind.region);
    renderIndicatorTable(ind.region);
  }

  function renderCrumbs() {
    const nav = $("crumbs");
    nav.textContent = "";
    state.path.forEach((r, i) => {
      if (i) nav.append(el("span", { class: "sep", "aria-hidden": "true" }, "›"));
      const last = i === state.path.length - 1;
      const label = el(last ? "span" : "a", {
        title: `${en(LEVEL, r.level)} ${r.regionCode}`,
        "data-code": prefix(r.regionCode, r.level),
        onclick: last ? null : () => openRegion(prefix(r.regionCode, r.level), false),
      }, r.name);
      nav.append(label);
      if (last) nav.append(el("span", { class: "level", title: en(LEVEL, r.level) }, zh(LEVEL, r.level)));
    });
  }

  function renderPeriod(p) {
    const select = $("period");
    if (!select.options.length && p && p.schoolYear) {
      for (let y = p.schoolYear; y > p.schoolYear - 4; y--) {
        select.append(el("option", { value: String(y), title: `School year ${y}/${y + 1}` }, `${y}–${y + 1} 学年`));
      }
    }
    if (p) {
      select.value = String(p.schoolYear);
      const asOf = p.asOf ? new Date(p.asOf).toLocaleString("zh-CN", { hour12: false }) : "";
      const t = $("period-text");
      t.textContent = `统计期间 ${p.from} 至 ${p.to} · 数据截至 ${asOf}`;
      t.title = `Period ${p.from} to ${p.to}; stock indicators as of ${p.asOf}`;
    }
  }

  function kpi(id, label, title, value, sub, tone) {
    return el("div", { class: "kpi" + (tone ? " " + tone : ""), id: "kpi-" + id, title },
      el("div", { class: "label" }, label),
      el("div", { class: "value" }, value),
      el("div", { class: "sub" }, sub || "\u00a0"));
  }

  function renderKpis(r) {
    const frac = (v) => (v && !v.suppressed && v.denominator ? `${v.numerator} / ${v.denominator}` : "");
    const flagged = (c) => (c && !c.suppressed && c.count > 0 ? "alert" : "");
    const prev = {};
    for (const k of $("kpis").querySelectorAll(".kpi")) prev[k.id] = k.querySelector(".value").textContent;
    $("kpis").replaceChildren(
      kpi("population", "在册困境儿童", "Children in difficulty on the register (ACTIVE, under 18)", num(r.population)),
      kpi("screening", "心理筛查覆盖率", "Indicator 1 · screening coverage", pct(r.screeningCoverage), frac(r.screeningCoverage)),
      kpi("plans", "高风险建档率", "Indicator 2 · ORANGE/RED children with an active care plan", pct(r.highRiskPlanCoverage), frac(r.highRiskPlanCoverage)),
      kpi("visits", "班主任家访覆盖率", "Indicator 3 · head-teacher home-visit coverage", pct(r.homeVisitCoverage), frac(r.homeVisitCoverage)),
      kpi("overdue-open", "逾期未完成随访", "Open visit tasks past their due date", num(r.overdueOpen), "", flagged(r.overdueOpen) ? "warn" : ""),
      kpi("reports-overdue", "逾期未办结报告", "Reports not closed whose deadline has passed", num(r.reportsOverdue), "", flagged(r.reportsOverdue)),
      kpi("reports-filed", "本期新增发现报告", "Concern and mandatory reports filed in the period", num(r.reportsFiled)),
      kpi("in-treatment", "在治疗儿童", "Children in treatment", num(r.inTreatment)),
    );
    for (const k of $("kpis").querySelectorAll(".kpi")) {
      if (prev[k.id] !== undefined && prev[k.id] !== k.querySelector(".value").textContent) k.classList.add("flash");
    }
  }

  function chart(id) {
    if (!window.echarts) return null;
    if (!charts[id]) charts[id] = window.echarts.init($(id), null, { renderer: "canvas" });
    return charts[id];
  }

  function renderRiskChart(r) {
    const c = chart("chart-risk");
    if (!c) return;
    const d = r.riskDistribution || {};
    const rows = [["RED", d.red], ["ORANGE", d.orange], ["YELLOW", d.yellow], ["GREEN", d.green], ["UNSCREENED", d.unscreened]];
    const suppressed = rows.filter(([, v]) => v && v.suppressed).map(([k]) => zh(RISK, k));
    c.setOption({
      animationDuration: 400,
      tooltip: { trigger: "item", formatter: (p) => `${p.name}（${RISK[p.data.key][1]}）<br/>${p.value} 人 · ${p.percent}%` },
      legend: { bottom: 0, icon: "circle", itemWidth: 10, itemHeight: 10 },
      title: suppressed.length ? { text: "已抑制：" + suppressed.join("、"), left: "center", top: 0, textStyle: { fontSize: 11, color: "#677489", fontWeight: "normal" } } : { text: "" },
      series: [{
        type: "pie", radius: ["45%", "72%"], center: ["50%", "48%"], avoidLabelOverlap: true,
        itemStyle: { borderColor: "#fff", borderWidth: 2 },
        label: { formatter: "{b}\n{c}", fontSize: 12 },
        data: rows.filter(([, v]) => v && !v.suppressed && v.count).map(([k, v]) => ({ key: k, name: zh(RISK, k), value: v.count, itemStyle: { color: RISK[k][2] } })),
      }],
    }, true);
  }

  function renderCoverageChart(subs, region) {
    const c = chart("chart-coverage");
    if (!c) return;
    const rows = subs.length ? subs : [region];
    $("coverage-title").textContent = subs.length ? "下级辖区覆盖率" : "本辖区覆盖率";
    const val = (v) => (v && !v.suppressed && v.value !== null && v.value !== undefined ? +(v.value * 100).toFixed(1) : null);
    const series = [
      ["screeningCoverage", "心理筛查覆盖率", "Screening coverage", "#1d4f91"],
      ["highRiskPlanCoverage", "高风险建档率", "High-risk care-plan coverage", "#e7772a"],
      ["homeVisitCoverage", "家访覆盖率", "Home-visit coverage", "#2e9d5b"],
    ];
    c.setOption({
      animationDuration: 400,
      grid: { left: 8, right: 12, top: 36, bottom: 8, containLabel: true },
      legend: { top: 0, itemWidth: 12, itemHeight: 8 },
      tooltip: {
        trigger: "axis", axisPointer: { type: "shadow" },
        formatter: (ps) => ps[0].axisValue + ps.map((p) => `<br/>${p.marker}${p.seriesName}（${series[p.seriesIndex][2]}）：${p.value === null || p.value === undefined ? "—" : p.value + "%"}`).join(""),
      },
      xAxis: { type: "category", data: rows.map((r) => r.name), axisLabel: { interval: 0, rotate: rows.length > 8 ? 30 : 0, fontSize: 11 } },
      yAxis: { type: "value", max: 100, axisLabel: { formatter: "{value}%" }, splitLine: { lineStyle: { color: "#eef1f6" } } },
      series: series.map(([k, name, , color]) => ({ type: "bar", name, data: rows.map((r) => val(r[k])), itemStyle: { color, borderRadius: [2, 2, 0, 0] }, barMaxWidth: 18 })),
    }, true);
  }

  function renderSubTable(subs, region) {
    const t = $("sub-table");
    const cols = [
      ["在册儿童", "Children on the register", (r) => num(r.population)],
      ["筛查覆盖率", "Screening coverage", (r) => pct(r.screeningCoverage, true)],
      ["高风险建档率", "High-risk care-plan coverage", (r) => pct(r.highRiskPlanCoverage)],
      ["家访覆盖率", "Home-visit coverage", (r) => pct(r.homeVisitCoverage)],
      ["逾期随访率", "Overdue follow-ups (90 days)", (r) => pct(r.overdueFollowUps)],
      ["逾期任务", "Open overdue visit tasks", (r) => num(r.overdueOpen)],
      ["新增报告", "Reports filed in the period", (r) => num(r.reportsFiled)],
      ["逾期报告", "Reports past their deadline", (r) => num(r.reportsOverdue)],
      ["红色", "RED risk", (r) => num(r.riskDistribution && r.riskDistribution.red)],
      ["橙色", "ORANGE risk", (r) => num(r.riskDistribution && r.riskDistribution.orange)],
    ];
    const head = el("thead", {}, el("tr", {}, el("th", { title: "Region" }, "辖区"), cols.map(([z, e]) => el("th", { title: e }, z))));
    const drillable = (r) => r.level === "CITY" || r.level === "COUNTY";
    const body = el("tbody", {}, subs.map((r) => el("tr", {
      class: drillable(r) ? "drill" : null,
      "data-code": prefix(r.regionCode, r.level),
      title: drillable(r) ? `${en(LEVEL, r.level)} ${r.regionCode} — click to drill down` : `${en(LEVEL, r.level)} ${r.regionCode}`,
      onclick: drillable(r) ? () => openRegion(prefix(r.regionCode, r.level), false) : null,
    }, el("td", {}, r.name), cols.map(([, , f]) => el("td", {}, f(r))))));
    const foot = el("tfoot", {}, el("tr", { title: "Whole region" }, el("td", {}, "合计 " + region.name), cols.map(([, , f]) => el("td", {}, f(region)))));
    if (!subs.length) body.append(el("tr", {}, el("td", { class: "muted text", colspan: cols.length + 1 }, "无下级辖区数据 (no subregions)")));
    t.replaceChildren(head, body, foot);
  }

  function renderIndicatorTable(r) {
    const rt = r.reportTimeliness || {};
    const tt = r.referralTurnaround || {};
    const cr = r.crisisResponse || {};
    const rc = r.referralClosure || {};
    const rows = [
      ["1", "心理筛查覆盖率", "Screening coverage", pct(r.screeningCoverage, true)],
      ["2", "高风险儿童建档立策率", "High-risk (ORANGE/RED) care-plan coverage", pct(r.highRiskPlanCoverage, true)],
      ["2′", "建档立策天数（中位数）", "Median days from trigger to plan approval", stat(r.planApprovalDays, "天")],
      ["3", "班主任家访覆盖率", "Head-teacher home-visit coverage", pct(r.homeVisitCoverage, true)],
      ["4", "逾期随访率", "Overdue follow-ups (visit tasks due in 90 days not done)", pct(r.overdueFollowUps, true)],
      ["5", "危机首次响应 ≤24小时", "Crisis first response within 24 h", pct(cr.within24h, true)],
      ["5′", "危机响应时长（中位数 / P90）", "Crisis first-response time, median / P90", el("span", {}, stat(cr.medianHours, "小时"), " / ", stat(cr.p90Hours, "小时"))],
      ["6", "转介按时响应率", "Referral answered within SLA", pct(tt.withinSla, true)],
      ["6′", "转介响应时长（中位数）", "Referral turnaround, median hours", stat(tt.medianHours, "小时")],
      ["7", "转介闭环率（上转 / 下转）", "Referral closure rate (UP / DOWN)", el("span", {}, pct(rc.up), " / ", pct(rc.down))],
      ["8", "出院7日内随访率", "Post-discharge follow-up within 7 days", pct(r.postDischargeFollowUp, true)],
      ["9", "出院30日内复学率", "Return to school within 30 days", pct(r.returnToSchool, true)],
      ["10", "强制报告及时率（≤24小时）", "Mandatory-report timeliness (within 24 h)", pct(rt.within24h, true)],
      ["10′", "报告延迟分布", "Report delay buckets: ≤1 d / 1–3 d / 3–7 d / >7 d",
        el("span", { title: "≤1 day / 1–3 days / 3–7 days / over 7 days" }, `${fmtCnt(rt.upTo1Day)} / ${fmtCnt(rt.days1To3)} / ${fmtCnt(rt.days3To7)} / ${fmtCnt(rt.over7Days)}`)],
    ];
    $("ind-table").replaceChildren(
      el("thead", {}, el("tr", {}, el("th", { title: "No." }, "序号"), el("th", { class: "text", title: "Indicator" }, "指标"), el("th", { title: "Value" }, "数值"))),
      el("tbody", {}, rows.map(([n, z, e, v]) => el("tr", { title: e }, el("td", {}, n), el("td", { class: "text" }, z), el("td", {}, v)))),
    );
  }

  // Overdue warnings: children of the region with open overdue flags (roles with row access).
  async function loadOverdue(code, aggregateOnly) {
    const card = $("overdue-card");
    const note = $("overdue-note");
    if (aggregateOnly) {
      $("overdue-table").replaceChildren();
      $("overdue-count").textContent = "—";
      note.textContent = "当前角色仅可查看统计数据，不显示儿童名单。";
      note.title = "Your role sees aggregates only: no lists of children.";
      card.hidden = false;
      return;
    }
    let body;
    try { body = await gql(Q_OVERDUE, { code }); } catch (e) { note.textContent = "名单加载失败：" + e.message; return; }
    if (code !== currentPrefix()) return;
    const conn = body.data && body.data.children;
    if (!conn) {
      $("overdue-table").replaceChildren();
      note.textContent = "当前角色无权查看儿童名单。";
      note.title = "Your role has no row access to children here.";
      return;
    }
    const rows = (conn.nodes || []).map((c) => ({
      c, flags: (c.flags || []).filter((f) => !f.resolvedAt && OVERDUE_FLAGS.includes(f.kind)),
    })).filter((r) => r.flags.length);
    const count = $("overdue-count");
    const before = count.dataset.count;
    count.textContent = String(rows.length);
    count.dataset.count = String(rows.length);
    if (before !== String(rows.length)) { count.classList.remove("bump"); void count.offsetWidth; count.classList.add("bump"); }
    note.textContent = conn.totalCount > (conn.nodes || []).length
      ? `已检查风险最高的 ${(conn.nodes || []).length} 名儿童（共 ${conn.totalCount} 名）。` : "";
    note.title = "Highest-risk children checked first";
    const risk = (lvl) => el("span", { class: "risk " + (lvl || "NONE"), title: lvl ? en(RISK, lvl) : "Not screened" }, lvl ? zh(RISK, lvl) : "未筛查");
    $("overdue-table").replaceChildren(
      el("thead", {}, el("tr", {},
        el("th", { title: "Child (masked name)" }, "儿童"), el("th", { class: "text", title: "Risk level" }, "风险等级"),
        el("th", { class: "text", title: "Residence region" }, "居住地代码"), el("th", { class: "text", title: "Open warnings" }, "预警"),
        el("th", { title: "Oldest warning raised" }, "最早预警时间"))),
      el("tbody", {}, rows.length ? rows.map(({ c, flags }) => el("tr", { "data-child": c.id },
        el("td", { class: "text" }, c.displayName || "—", c.keyCase ? el("span", { class: "tag", title: "Key case" }, "重点") : null),
        el("td", { class: "text" }, risk(c.currentRiskLevel)),
        el("td", { class: "text" }, c.residenceRegionCode || "—"),
        el("td", { class: "text" }, flags.map((f) => el("span", { class: "tag", title: `${en(FLAG, f.kind)}: ${f.message || ""}` }, zh(FLAG, f.kind)))),
        el("td", {}, new Date(flags.map((f) => f.raisedAt).sort()[0]).toLocaleDateString("zh-CN")),
      )) : el("tr", {}, el("td", { class: "muted text", colspan: 5, title: "No open overdue warnings" }, "暂无逾期预警"))),
    );
  }

  function renderCounter(bump) {
    const b = $("new-reports");
    b.textContent = String(state.newReports);
    b.dataset.count = String(state.newReports);
    if (bump) { b.classList.remove("bump"); void b.offsetWidth; b.classList.add("bump"); }
  }

  function onReport(payload) {
    const r = payload && payload.data && payload.data.reportRaised;
    if (!r) return;
    state.newReports += 1;
    renderCounter(true);
    const feed = $("feed");
    const empty = feed.querySelector(".empty");
    if (empty) empty.remove();
    const time = r.reportedAt ? new Date(r.reportedAt).toLocaleTimeString("zh-CN", { hour12: false }) : "";
    feed.prepend(el("li", { class: "new", "data-report": r.id, title: `${en(CATEGORY, r.category)} · ${en(URGENCY, r.urgency)} · due ${r.dueBy || "—"}` },
      el("span", { class: "time" }, time),
      el("span", { class: "urg " + (r.urgency || "") }, r.urgency ? zh(URGENCY, r.urgency) : "—"),
      el("span", {}, r.category ? zh(CATEGORY, r.category) + "报告" : "发现报告"),
      el("span", { class: "muted small" }, r.dueBy ? "办结时限 " + new Date(r.dueBy).toLocaleString("zh-CN", { hour12: false }) : "")));
  }

  // ---------------------------------------------------------------------------------------
  // Live updates: graphql-transport-ws on /graphql/ws.

  function setLive(mode) {
    const l = $("live");
    l.className = "live" + (mode === "on" ? " on" : mode === "wait" ? " wait" : "");
    $("live-text").textContent = mode === "on" ? "实时" : mode === "wait" ? "连接中" : "离线";
    l.title = mode === "on" ? "Live updates: connected" : mode === "wait" ? "Live updates: connecting" : "Live updates: disconnected";
    document.body.dataset.live = mode;
  }

  function connectLive() {
    if (!state.token) return;
    setLive("wait");
    const url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/graphql/ws";
    const ws = new WebSocket(url, "graphql-transport-ws");
    state.ws = ws;
    ws.onopen = () => ws.send(JSON.stringify({ type: "connection_init", payload: { Authorization: "Bearer " + state.token } }));
    ws.onmessage = (ev) => {
      let m;
      try { m = JSON.parse(ev.data); } catch (_) { return; }
      if (m.type === "connection_ack") {
        state.wsRetry = 0;
        setLive("on");
        state.acked = true;
        const code = currentPrefix();
        if (code) subscribeRegion(code);
      } else if (m.type === "ping") {
        ws.send(JSON.stringify({ type: "pong" }));
      } else if (m.type === "next") {
        if (m.id.startsWith("reports-")) onReport(m.payload);
        else if (m.id.startsWith("ind-")) refetchSoon();
      } else if (m.type === "error" || m.type === "complete") {
        if (m.type === "error") console.warn("subscription error", m.id, m.payload);
        delete state.subs[m.id];
      }
    };
    ws.onclose = (ev) => {
      state.acked = false;
      state.subs = {};
      if (state.ws !== ws) return;
      setLive("off");
      if (ev.code === 4403 || ev.code === 4401) { signOut(ev.reason || "令牌已失效 (token expired)"); return; }
      const delay = Math.min(30000, 1000 * 2 ** state.wsRetry++);
      setTimeout(() => { if (state.ws === ws && state.token) connectLive(); }, delay);
    };
  }

  function subscribeRegion(code) {
    const ws = state.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN || !state.acked) return; // (re)done on ack
    for (const id of Object.keys(state.subs)) {
      if (!id.endsWith("-" + code)) { ws.send(JSON.stringify({ id, type: "complete" })); delete state.subs[id]; }
    }
    for (const [id, query] of [["reports-" + code, S_REPORTS], ["ind-" + code, S_INDICATORS]]) {
      if (state.subs[id]) continue;
      state.subs[id] = true;
      ws.send(JSON.stringify({ id, type: "subscribe", payload: { query, variables: { code } } }));
    }
  }

  // ---------------------------------------------------------------------------------------
  // Wiring.

  window.addEventListener("resize", () => Object.values(charts).forEach((c) => c.resize()));
  document.addEventListener("DOMContentLoaded", async () => {
    $("token-form").addEventListener("submit", (ev) => { ev.preventDefault(); const t = $("token-input").value; if (t.trim()) signIn(t); });
    $("demo-form").addEventListener("submit", demoSignIn);
    $("signout").addEventListener("click", () => signOut());
    $("refresh").addEventListener("click", () => { const c = currentPrefix(); if (c) openRegion(c, false); });
    $("period").addEventListener("change", (ev) => {
      state.period = { schoolYear: parseInt(ev.target.value, 10) };
      const c = currentPrefix(); if (c) openRegion(c, false);
    });
    await loadDemoRoles();
    const saved = sessionStorage.getItem(TOKEN_KEY);
    if (saved) await signIn(saved);
    else $("signin").hidden = false;
    if (!state.token) $("signin").hidden = false;
  });
})();

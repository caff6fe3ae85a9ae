// UI strings in English and Chinese. Answers come from the agents in the
// language the user writes in; these are the console's own words.
export const strings = {
  en: {
    skip: "Skip to content", signout: "Sign out", signin: "Sign in", key: "API key", keyhint: "Paste an API key (for a new server: the contents of data/admin.key). It is kept in this tab only.",
    nav_chat: "Chat", nav_approvals: "Approvals", nav_hotline: "Hotline", nav_knowledge: "Knowledge", nav_evals: "Evals", nav_audit: "Audit", nav_alerts: "Alerts",
    agent: "Agent", send: "Send", ask: "Ask a question…", newchat: "New chat", sessions: "Sessions", citations: "Sources", tools: "Tool calls", proposals: "Proposals",
    degraded: "Degraded: the model failed and the offline engine answered", model: "Model", asof: "as of", noproposals: "No proposals in this turn.",
    status: "Status", action: "Action", risk: "Risk", created: "Created", expires: "Expires in", expired: "expired", proposer: "Proposed by", rationale: "Rationale",
    evidence: "Evidence", flags: "Flags", arguments: "Arguments", approve: "Approve", reject: "Reject", comment: "Comment", decision: "Decision", execution: "Execution",
    all: "all", filter: "Filter", type: "Type", category: "Category", department: "Department", urgency: "Urgency", deadline: "Deadline", ticket: "Ticket", reply: "Draft reply", sources: "Sources",
    collections: "Collections", documents: "documents", chunks: "chunks", upload: "Upload", dropfiles: "Drop files here or choose them", search: "Search", query: "Query", score: "score", clearance: "Clearance",
    runs: "Runs", startrun: "Run the shipped suites", passed: "passed", failed: "failed", cases: "Cases", compare: "Compare with", metric: "Metric",
    verify: "Chain", verified: "verifies", broken: "broken", latest: "Latest records", loading: "Loading…", none: "Nothing here yet.", live: "Live", overdue: "overdue", left: "left",
    signedas: "Signed in as", error: "Error", text: "Text", actor: "Actor", kind: "Kind", subject: "Subject", time: "Time", open: "Open", next: "Next page",
    passrate: "Case pass rate", suite: "Suite", case: "Case", seq: "Seq",
  },
  zh: {
    skip: "跳到内容", signout: "退出", signin: "登录", key: "API 密钥", keyhint: "粘贴一个 API 密钥（新服务器：data/admin.key 的内容）。只保存在当前标签页。",
    nav_chat: "对话", nav_approvals: "审批", nav_hotline: "热线", nav_knowledge: "知识库", nav_evals: "评测", nav_audit: "审计", nav_alerts: "告警",
    agent: "智能体", send: "发送", ask: "输入问题…", newchat: "新对话", sessions: "会话", citations: "来源", tools: "工具调用", proposals: "提议",
    degraded: "降级：模型失败，由离线引擎回答", model: "模型", asof: "截至", noproposals: "本轮没有提议。",
    status: "状态", action: "操作", risk: "风险", created: "创建", expires: "剩余", expired: "已过期", proposer: "提议人", rationale: "理由",
    evidence: "证据", flags: "标记", arguments: "参数", approve: "批准", reject: "驳回", comment: "意见", decision: "决定", execution: "执行",
    all: "全部", filter: "筛选", type: "类型", category: "类别", department: "部门", urgency: "紧急程度", deadline: "时限", ticket: "工单", reply: "答复草稿", sources: "依据",
    collections: "知识集", documents: "文档", chunks: "片段", upload: "上传", dropfiles: "把文件拖到这里或选择文件", search: "检索", query: "查询", score: "得分", clearance: "密级",
    runs: "评测运行", startrun: "运行内置评测", passed: "通过", failed: "未通过", cases: "用例", compare: "对比", metric: "指标",
    verify: "审计链", verified: "校验通过", broken: "已损坏", latest: "最新记录", loading: "加载中…", none: "暂无内容。", live: "实时", overdue: "已超时", left: "剩余",
    signedas: "当前身份", error: "错误", text: "内容", actor: "操作者", kind: "类型", subject: "对象", time: "时间", open: "打开", next: "下一页",
    passrate: "用例通过率", suite: "评测集", case: "用例", seq: "序号",
    // API codes shown in Chinese (the English UI shows the codes themselves).
    codes: {
      proposed: "待审批", approved: "已批准", executed: "已执行", failed: "执行失败", rejected: "已驳回", expired: "已过期",
      triaged: "已分拣", dispatched: "已派单", accepted: "已受理", in_progress: "办理中", replied: "已答复", closed: "已办结",
      returned: "已退回", reopened: "重新办理", merged: "已合并", pending_approval: "待审批",
      emergency: "紧急", urgent: "加急", normal: "一般", low: "低", medium: "中", high: "高",
      queued: "排队中", running: "运行中", done: "已完成", cancelled: "已取消", pass: "通过", fail: "未通过", error: "错误", timeout: "超时",
      document: "文档", tool: "工具", ok: "成功",
    },
  },
};

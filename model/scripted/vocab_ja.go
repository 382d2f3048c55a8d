package scripted

import (
	"fmt"
	"math/rand/v2"
	"strings"
)

// Japanese building blocks, as varied in shape as the English ones.
var (
	jaTopics = []string{
		"複利", "水の循環", "サプライチェーン", "ワクチン", "ブラックホール", "機械翻訳", "明治維新", "在宅勤務の管理",
		"都市養蜂", "発酵食品", "電気自動車の電池", "公共図書館", "睡眠の質", "火山の噴火", "コンテナ輸送", "ジャズの歴史",
		"プラスチックのリサイクル", "屋根の太陽光発電", "信用スコア", "潮の満ち引き", "パスワード管理", "古代ローマの水道",
		"川のマイクロプラスチック", "最低賃金", "サンゴの白化", "活版印刷", "習慣づくり", "インフレと貯金", "渡り鳥",
		"飲食店の食品ロス", "免疫のしくみ", "耐震建築", "初めての住宅購入", "語学アプリ", "時差", "量子コンピューター",
		"プレートテクトニクス", "輪作", "株式市場", "ネット上のプライバシー", "茶道", "防災", "地方の空き家",
		"風力発電", "プラセボ効果", "中世の城", "熱帯雨林", "公共交通の運賃", "薬剤耐性菌", "オリンピック", "手話",
		"クラウドストレージ", "裁判員制度", "漬物", "氷河の後退", "屋台の食文化", "メートル法", "ネットの口コミ",
		"サマータイム", "クレジットカードの不正利用", "民謡", "3Dプリンター", "将棋の歴史", "食品表示", "大気汚染",
		"ギグエコノミー", "日食", "コーヒー栽培", "海水の淡水化", "手洗い", "月の満ち欠け", "熱中症", "電動自転車",
		"古代エジプトの文字", "お盆の行事", "温泉の成り立ち", "駅伝", "盆栽", "地域通貨",
	}
	jaAudiences = []string{
		"小学生", "定年退職したエンジニア", "大学一年生", "忙しい子育て中の親", "小さな店の経営者", "日本語を学ぶ留学生",
		"高校の歴史の授業", "慎重な投資家", "新入社員", "料理をしたことがない人", "看護師のグループ", "市議会議員",
		"農家の方", "夜勤の多い人", "部活動の顧問", "初めて投票する若者", "フリーランスのデザイナー", "スマホに不慣れな祖父母",
		"病院の事務長", "パン屋の店主", "ソフトウェアのインターン", "地方に移住した家族",
	}
	jaConstraints = []string{
		"", "", "百字以内で", "箇条書き三つで", "専門用語を使わずに", "具体例を一つ挙げて", "やさしい口調で",
		"短い会話の形で", "ニュース記事のように", "スポーツのたとえを使って", "二段落で",
	}
	jaForms      = []string{"短い詩", "商品レビュー", "川柳", "応援スピーチ", "日記", "ラジオCM", "新聞への投書", "寝る前のお話", "求人広告", "お礼状", "旅行ブログ"}
	jaActivities = []string{"就職面接の準備", "食費の節約", "大人になってからの水泳の練習", "ホームパーティーの準備", "引っ越し", "ポッドキャストの開始", "スマホ時間の削減", "保護犬のしつけ", "数学の試験勉強", "観葉植物の世話", "読書会の運営", "給与交渉", "ガレージの片付け", "子ども連れのキャンプ",
		"将棋の上達", "大家族の料理", "初めてのマラソン", "コンポストづくり", "ネットショップの運営", "中古車選び", "海外ボランティア", "親の介護", "台所の片付け"}
	jaItems       = []string{"ツイート", "顧客からのメール", "映画レビュー", "ニュースの見出し", "飲食店の口コミ", "問い合わせ", "商品説明"}
	jaLabelSets   = [][]string{{"肯定的", "否定的", "中立"}, {"緊急", "緊急でない"}, {"丁寧", "くだけた"}, {"迷惑メール", "通常のメール"}, {"事実", "意見"}, {"苦情", "称賛", "質問"}}
	jaDocs        = []string{"記事", "メールのやりとり", "会議の議事録", "論文の要旨", "レシピ", "契約書の条項", "ブログ記事", "講義ノート"}
	jaEntities    = []string{"人名", "日付", "地名", "会社名", "金額", "材料", "薬の名前", "電話番号"}
	jaTones       = []string{"もっと丁寧に", "自信のある調子に", "くだけた調子に", "説得力のある文に", "簡潔に", "温かみのある文に"}
	jaGoals       = []string{"家庭の電気代を減らす", "通勤を快適にする", "新しい同僚を歓迎する", "勉強中の集中力を保つ", "食品ロスを減らす", "会議を短くする", "子どもに読書を勧める", "昔の友人と連絡を取り続ける"}
	jaPairs       = [][2]string{{"賃貸", "持ち家"}, {"紅茶", "コーヒー"}, {"新幹線", "飛行機"}, {"電子書籍", "紙の本"}, {"猫", "犬"}, {"都会の暮らし", "田舎の暮らし"}, {"ランニング", "サイクリング"}}
	jaAspects     = []string{"費用", "健康への影響", "環境への影響", "便利さ", "長期的な価値", "安全性"}
	jaMessages    = []string{"丁寧な催促", "短いお詫び", "正式な苦情", "気軽な招待", "進捗報告", "意見のお願い"}
	jaRecipients  = []string{"大家さん", "プロジェクトの責任者", "校長先生", "近所の人", "ホテルの支配人", "取引先"}
	jaSubjects    = []string{"騒がしい改装工事", "締め切りの遅れ", "壊れた暖房", "来月の予定変更", "請求の誤り", "チャリティーマラソン"}
	jaPhenomena   = []string{"交通渋滞", "海面上昇", "先延ばし癖", "ミツバチの減少", "住宅不足", "山火事", "仕事の燃え尽き"}
	jaProducts    = []string{"繰り返し使える弁当箱", "語学交換アプリ", "地域の工具貸し出しサービス", "静かな電動スクーター", "植物性ヨーグルト", "学習計画ノート"}
	jaMath        = []string{"割合", "電車の速さ", "割り勘", "庭の面積", "単利", "レシピの分量", "単位の換算", "さいころの確率"}
	jaNearEndings = []string{"詳しく", "もう一度", "簡単に"}
)

// jaFresh builds a new Japanese task: a frame, then an optional purpose and
// persona in front, from separate pools, as enFresh does.
func jaFresh(r *rand.Rand, clf bool) string {
	frame := r.IntN(16)
	if clf {
		frame = pick(r, jaClfFrames)
	}
	core := jaFrame(r, frame)
	if r.Float64() < 0.8 {
		core = pick(r, jaPurposes) + "、" + core
	}
	if r.Float64() < 0.45 {
		core = pick(r, jaPersonas) + "の立場で、" + core
	}
	return core
}

var (
	jaPurposes = []string{
		"学校だよりに載せるために", "地域の勉強会で使うために", "就職活動の書類として", "ポッドキャストの回のために",
		"社内のウィキに載せるために", "ボランティア研修のために", "地元ラジオの番組で", "保護者会の資料として",
		"初心者向けの夜間講座で", "学会の短い発表のために", "町内の掲示板に貼るために", "博物館の音声ガイドとして",
		"オンライン講座の掲示板で", "老人ホームのお便りに", "ハッカソンの開始時に", "病院の待合室のちらしに",
		"社員旅行のしおりに", "募金活動のちらしに", "科学展のブースで", "図書館の展示に", "新人向けの手引きに",
		"朝市の出店で", "マンションの管理組合の会合で", "生徒会の集まりで", "観光協会のサイトに", "農協の会報に",
	}
	jaPersonas = []string{
		"博物館の案内係", "キャリア相談員", "科学記者", "管理栄養士", "ベテラン教師", "都市計画の専門家", "旅行会社の社員", "図書館司書",
		"サポート窓口の責任者", "家庭医", "森林管理官", "料理評論家", "スクールカウンセラー", "税理士", "スポーツ実況者", "ラジオのパーソナリティ",
	}
)

// jaTopicModifiers narrow a topic, as a model varies its wording.
var jaTopicModifiers = []string{"身近な", "日本の", "世界の", "昔の", "これからの", "地方の", "子どもにとっての", "高齢者にとっての", "最近の", "江戸時代の", "海外と比べた", "家庭での"}

func jaTopic(r *rand.Rand) string {
	if r.Float64() < 0.5 {
		return pick(r, jaTopicModifiers) + pick(r, jaTopics)
	}
	return pick(r, jaTopics)
}

// jaClfFrames are the frames of classification tasks.
var jaClfFrames = []int{3, 10, 13}

func jaFrame(r *rand.Rand, frame int) string {
	c := pick(r, jaConstraints)
	if c != "" {
		c += "、"
	}
	switch frame {
	case 0:
		return fmt.Sprintf("%sについて、%sにもわかるように%s説明してください。", jaTopic(r), pick(r, jaAudiences), c)
	case 1:
		return fmt.Sprintf("%sをテーマに、%s向けの%sを書いてください。", jaTopic(r), pick(r, jaAudiences), pick(r, jaForms))
	case 2:
		return fmt.Sprintf("%sのための実用的なコツを%d つ、%s教えてください。", pick(r, jaActivities), 3+r.IntN(4), c)
	case 3:
		return fmt.Sprintf("与えられた%sを「%s」のいずれかに分類してください。", pick(r, jaItems), strings.Join(pick(r, jaLabelSets), "」「"))
	case 4:
		return fmt.Sprintf("次の%sを%d文で要約してください。", pick(r, jaDocs), 1+r.IntN(4))
	case 5:
		return fmt.Sprintf("%sための工夫を%dつ提案してください。", pick(r, jaGoals), 3+r.IntN(4))
	case 6:
		p := pick(r, jaPairs)
		return fmt.Sprintf("%sと%sを%sの観点から比べてください。", p[0], p[1], pick(r, jaAspects))
	case 7:
		return fmt.Sprintf("%sの主な原因は何ですか。個人にできる対策も挙げてください。", pick(r, jaPhenomena))
	case 8:
		return fmt.Sprintf("次の文章を%s書き直してください。", pick(r, jaTones))
	case 9:
		return fmt.Sprintf("%sのための%d週間の計画を立ててください。", pick(r, jaActivities), 2+r.IntN(5))
	case 10:
		ls := pick(r, jaLabelSets)
		return fmt.Sprintf("この%sが「%s」か「%s」かを判定してください。", pick(r, jaItems), ls[0], ls[1])
	case 11:
		return fmt.Sprintf("%sに出てくる%sをすべて抜き出してください。", pick(r, jaDocs), pick(r, jaEntities))
	case 12:
		return fmt.Sprintf("%sに関する文章題を解き、計算の過程も示してください。", pick(r, jaMath))
	case 13:
		return fmt.Sprintf("%sについての次の文は正しいですか、誤っていますか。", jaTopic(r))
	case 14:
		return fmt.Sprintf("%sに覚えやすい名前を付け、その理由を説明してください。", pick(r, jaProducts))
	default:
		return fmt.Sprintf("%sに%sについての%sを書いてください。", pick(r, jaRecipients), pick(r, jaSubjects), pick(r, jaMessages))
	}
}

func jaFaulty(r *rand.Rand) string {
	switch r.IntN(5) {
	case 0:
		return fmt.Sprintf("%sの画像を説明してください。", jaTopic(r))
	case 1:
		return fmt.Sprintf("%sの変化をグラフにしてください。", jaTopic(r))
	case 2:
		return pick(r, []string{"要約して。", "翻訳。", "面白く。"})
	case 3:
		return fmt.Sprintf("プログラムを書いて%sを説明してください。", jaTopic(r))
	default:
		return fmt.Sprintf("「%s」という題名を、もっと目を引くように直してください。", jaTopic(r))
	}
}

func jaNearCopy(r *rand.Rand, s string) string {
	s = strings.TrimRight(s, "。 ")
	return s + "。" + pick(r, jaNearEndings) + "お願いします。"
}

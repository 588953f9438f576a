package sentiment

import "testing"

// benchCorpus is a mix of mentions like those a brand receives: short,
// mostly neutral or complaining, in the three languages, with emoji,
// mentions, links and hashtags.
func benchCorpus() []string {
	return []string{
		"still waiting for my refund after 3 weeks @ShopCo",
		"Worst customer service ever. Never again.",
		"My flight was cancelled and nobody answers the phone #fail",
		"lost my luggage AGAIN 😡😡",
		"charged twice for the same order, I want my money back",
		"The app keeps crashing since the update, please fix",
		"is the site down? can't log in",
		"Great service, thank you so much!",
		"Love the new app ❤️",
		"the store opens at 9",
		"What time does the flight to Madrid leave?",
		"Just picked up my order, see you next week",
		"Issue resolved in 5 minutes, thanks!",
		"not bad at all, the new menu is pretty good",
		"The food was good but the service was terrible",
		"Has anyone else had problems with the checkout? https://shop.example/cart",
		"😍😍😍",
		"Been on hold for 2 hours. Unacceptable!!!",
		"@ShopCo any news on the summer sale?",
		"RT @someone: the new store in Barcelona looks amazing",
		"Package arrived damaged and nobody replies to my emails",
		"thanks for the quick reply, all sorted now",
		"does the 24h support cover weekends?",
		"meh, it's ok I guess",
		"Honestly the best airline I've flown with 👏",
		"they still haven't fixed the wifi in the lounge :(",
		"Can I change my booking online?",
		"I'm really disappointed, this used to be my favourite shop",
		"Delivery was late but support sorted it quickly",
		"20% off this weekend only, don't miss it",
		"The staff were incredibly helpful and kind",
		"why is my order still processing after 10 days??",
		"This is a scam, stay away",
		"vuelo cancelado y sin respuesta",
		"Llevo dos semanas esperando el reembolso @ShopCoES",
		"Me han cobrado dos veces y nadie me contesta",
		"Pésima atención al cliente, no lo recomiendo",
		"Han perdido mi maleta, qué vergüenza",
		"La app no funciona desde ayer",
		"¡Muchas gracias por la rápida respuesta!",
		"Me encanta la nueva tienda 😍",
		"la tienda abre a las 9",
		"¿A qué hora sale el vuelo a Barcelona?",
		"no está mal, aunque un poco caro",
		"Otra caída del servicio, ya basta",
		"Todo perfecto, muy amables",
		"el pedido todavía no ha llegado",
		"¿Alguien sabe si abren el domingo?",
		"Excelente servicio, lo recomiendo",
		"Estoy harto de los retrasos #RenfeFail",
		"la comida estaba buena pero la atención fue horrible",
		"Mañana publicamos el horario de verano",
		"El personal fue amabilísimo 👏👏",
		"sin luz otra vez en todo el barrio 😡",
		"Gracias por solucionarlo tan rápido",
		"He pedido una camiseta azul y me llega roja",
		"El vuelo se retrasó un poco pero la tripulación fue encantadora",
		"Esto es una estafa",
		"nada que decir, todo correcto",
		"¿Cuándo vuelve el descuento del 20%?",
		"servicio lentísimo y carísimo",
		"Buenísimo, repetiremos",
		"No me gustó nada el trato",
		"RT @alguien: nueva tienda en Madrid https://t.co/abc",
		"qué ganas de probar la nueva carta",
		"el paquet encara no ha arribat",
		"Vol cancel·lat i ningú respon",
		"M'han cobrat dues vegades",
		"L'atenció al client és pèssima",
		"Encara espero el reemborsament @ShopCoCAT",
		"Moltes gràcies per la resposta tan ràpida!",
		"M'encanta la nova botiga 😍",
		"la botiga obre a les 9",
		"A quina hora surt el vol cap a Madrid?",
		"no està malament, tot i que és una mica car",
		"Una altra caiguda del servei, estem farts",
		"Tot perfecte, molt amables",
		"Servei excel·lent, el recomano",
		"Demà publiquem l'horari d'estiu",
		"Han perdut la meva maleta, quina vergonya",
		"L'app no funciona des d'ahir",
		"El menjar era bo però el servei va ser horrible",
		"Boníssim!",
		"Sense problemes, va arribar a temps",
		"Fa dues hores que espero i ningú m'atén",
		"Algú sap si obren diumenge?",
		"Quin desastre de servei",
		"El personal ha estat amabilíssim",
		"És una estafa",
		"He demanat una samarreta blava per a la meva filla",
		"Per fi han arreglat la connexió, gràcies!",
		"No m'ha agradat gens",
		"Quan torna el descompte del 20%?",
		"😡 sense llum un altre cop",
		"l'endemà ja el tenia a casa, molt ràpid",
		"Molt malament, no ho recomano",
		"👍",
		"ok :)",
		"...",
		"#BlackFriday",
	}
}

func BenchmarkScore(b *testing.B) {
	s := New()
	texts := benchCorpus()
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		s.Score(texts[i%len(texts)], "")
		i++
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "mentions/s")
}

// BenchmarkScoreKnownLanguage is the path where the platform reports the
// language, which skips detection.
func BenchmarkScoreKnownLanguage(b *testing.B) {
	s := New()
	texts := benchCorpus()
	langs := make([]string, len(texts))
	for i, text := range texts {
		langs[i] = s.Score(text, "").Lang
	}
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		k := i % len(texts)
		s.Score(texts[k], langs[k])
		i++
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "mentions/s")
}

func BenchmarkDetectLanguage(b *testing.B) {
	texts := benchCorpus()
	DetectLanguage(texts[0])
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		DetectLanguage(texts[i%len(texts)])
		i++
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "mentions/s")
}
